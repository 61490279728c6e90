using System.Collections.Immutable;
using System.Reflection;
using BridgeRec.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace BridgeRec.Tests.Torch;

/// <summary>The project's analyzer on small programs: every way of handing torch an unheld Scalar is an error; held ones pass.</summary>
public class ScalarLifetimeAnalyzerTests
{
    static string[] Diagnose(string body)
    {
        string source = $$"""
            using TorchSharp;
            using BridgeRec.Torch;
            using static TorchSharp.torch;
            class C
            {
                static readonly Scalar Half = 0.5;
                Scalar _eps;
                void M(Tensor t, double d)
                {
                    {{body}}
                }
            }
            """;
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Select(p => MetadataReference.CreateFromFile(p)).ToList();
        references.Add(MetadataReference.CreateFromFile(typeof(TorchSharp.torch).Assembly.Location));
        references.Add(MetadataReference.CreateFromFile(typeof(BridgeRec.Torch.HeldOps).Assembly.Location));
        var compilation = CSharpCompilation.Create("probe", [CSharpSyntaxTree.ParseText(source)], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        var diagnostics = compilation.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new ScalarLifetimeAnalyzer()))
            .GetAnalyzerDiagnosticsAsync().GetAwaiter().GetResult();
        return diagnostics.Select(d => d.Id).ToArray();
    }

    [Theory]
    [InlineData("var y = t.mul(0.5);", "BR0001")]              // implicit double -> Scalar
    [InlineData("var y = t.pow(2);", "BR0001")]
    [InlineData("var y = t.add(t, d);", "BR0001")]             // alpha
    [InlineData("var y = t * 0.5;", "BR0003")]                 // TorchSharp's operator makes the Scalar itself
    [InlineData("t *= 2.0;", "BR0003")]
    [InlineData("var y = t.mul(d.ToScalar());", "BR0002")]     // made, never held
    [InlineData("var s = d.ToScalar(); var y = t.mul(s);", "BR0002")]
    [InlineData("var y = t + t;", "BR0004")]                   // op_Addition -> add(Tensor) -> alpha = 1
    [InlineData("t += t;", "BR0004")]
    [InlineData("t.add_(t);", "BR0004")]
    [InlineData("var y = t.add(Half);", "BR0004")]
    [InlineData("var y = t.square();", "BR0004")]              // pow(2)
    [InlineData("var y = arange(Half);", "BR0004")]            // start 0, step 1
    [InlineData("var y = nn.functional.softplus(t);", "BR0004")]
    [InlineData("var y = torch.add(t, t);", "BR0004")]
    public void FlagsTemporaryScalars(string body, string id) => Assert.Contains(id, Diagnose(body));

    [Theory]
    [InlineData("using var s = d.ToScalar(); var y = t.mul(s);")]
    [InlineData("using (var s = d.ToScalar()) { var y = t.mul(s); }")]
    [InlineData("_eps = d; var y = t.Plus(_eps);")]
    [InlineData("_eps = d.ToScalar(); var y = t.mul(_eps);")]
    [InlineData("var y = t.mul(Half) * t;")]
    [InlineData("var y = t.mul(t).sum();")]
    [InlineData("var y = t.Plus(t);")]
    [InlineData("t.Plus_(t);")]
    [InlineData("var y = t.Plus(Half);")]
    [InlineData("var y = t.add(t, Half);")]
    [InlineData("var y = t - t;")]
    [InlineData("var y = t.Squared();")]
    [InlineData("var y = HeldOps.Arange(0, 10);")]
    [InlineData("var y = arange(Half, Half, Half);")]
    [InlineData("var y = t.Softplus();")]
    public void AcceptsHeldScalars(string body) => Assert.Empty(Diagnose(body));

    [Fact]
    public void BR0003AndBR0004DoNotBothReportTheSameCall() => Assert.Equal(["BR0003"], Diagnose("var y = t * 0.5;"));

    /// <summary>
    /// BR0004's list is what a scan of the referenced TorchSharp.dll finds on <c>Tensor</c>, <c>torch</c> and
    /// <c>nn.functional</c>: the public members whose IL reaches a Scalar conversion (<c>Scalar.op_Implicit</c>, the
    /// <c>ToScalar</c> extensions), directly or through the methods they call. A TorchSharp upgrade fails here until the
    /// list is updated.
    /// </summary>
    [Fact]
    public void OwnScalarListMatchesAScanOfTorchSharp()
    {
        var scanned = ScanTorchSharp();
        var missing = scanned.Except(ScalarLifetimeAnalyzer.OwnScalarMembers).Order().ToList();
        var stale = ScalarLifetimeAnalyzer.OwnScalarMembers.Except(scanned).Order().ToList();
        Assert.True(missing.Count == 0 && stale.Count == 0,
            $"BR0004's list differs from TorchSharp's IL. Missing: {string.Join(", ", missing)}. No longer found: {string.Join(", ", stale)}");
    }

    static HashSet<string> ScanTorchSharp()
    {
        var asm = typeof(TorchSharp.torch).Assembly;
        var scalar = typeof(TorchSharp.Scalar);
        var makers = new HashSet<MethodBase>(scalar.GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.Name == "op_Implicit"));
        foreach (var m in typeof(TorchSharp.ScalarExtensionMethods).GetMethods(BindingFlags.Public | BindingFlags.Static))
            if (m.ReturnType == scalar) makers.Add(m);
        Type[] types;
        try { types = asm.GetTypes(); }
        catch (ReflectionTypeLoadException e) { types = e.Types.OfType<Type>().ToArray(); }
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var callees = new List<(Type Type, MethodInfo Method, List<MethodBase> Calls)>();
        foreach (var t in types)
            foreach (var m in t.GetMethods(all))
            {
                byte[]? il;
                try { il = m.GetMethodBody()?.GetILAsByteArray(); } catch { continue; }
                if (il is null) continue;
                var calls = new List<MethodBase>();
                // Every call / callvirt byte followed by a method token (a stray byte that looks like one resolves to
                // nothing or fails, and is skipped).
                for (int i = 0; i + 4 < il.Length; i++)
                {
                    if (il[i] is not (0x28 or 0x6F)) continue;
                    try
                    {
                        var target = m.Module.ResolveMethod(BitConverter.ToInt32(il, i + 1),
                            t.IsGenericType ? t.GetGenericArguments() : null, m.IsGenericMethod ? m.GetGenericArguments() : null);
                        if (target is not null) calls.Add(target);
                    }
                    catch { }
                }
                callees.Add((t, m, calls));
            }
        var hidden = new HashSet<MethodBase>(makers);
        for (bool grew = true; grew;)
        {
            grew = false;
            foreach (var (_, m, calls) in callees)
                if (!hidden.Contains(m) && calls.Any(hidden.Contains)) { hidden.Add(m); grew = true; }
        }
        string[] homes = ["TorchSharp.torch", "TorchSharp.torch+Tensor", "TorchSharp.torch+nn+functional"];
        return callees
            .Where(c => hidden.Contains(c.Method) && !makers.Contains(c.Method) && c.Method.IsPublic && homes.Contains(c.Type.FullName))
            .Select(c => $"{c.Type.FullName!.Replace('+', '.')}.{c.Method.Name}({string.Join(",", c.Method.GetParameters().Select(p => p.ParameterType.Name))})")
            .ToHashSet();
    }
}
