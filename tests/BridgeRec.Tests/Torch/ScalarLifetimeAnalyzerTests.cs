using System.Collections.Immutable;
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
    public void FlagsTemporaryScalars(string body, string id) => Assert.Contains(id, Diagnose(body));

    [Theory]
    [InlineData("using var s = d.ToScalar(); var y = t.mul(s);")]
    [InlineData("using (var s = d.ToScalar()) { var y = t.mul(s); }")]
    [InlineData("_eps = d; var y = t.add(_eps);")]
    [InlineData("_eps = d.ToScalar(); var y = t.add(_eps);")]
    [InlineData("var y = t.mul(Half) * t;")]
    [InlineData("var y = t.mul(t).sum();")]
    public void AcceptsHeldScalars(string body) => Assert.Empty(Diagnose(body));
}
