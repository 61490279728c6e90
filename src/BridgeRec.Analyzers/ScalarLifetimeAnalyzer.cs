using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace BridgeRec.Analyzers;

/// <summary>
/// TorchSharp 0.107 frees a <c>Scalar</c>'s native value in its finalizer, and no dispose scope tracks Scalars. A
/// Scalar made on the fly (<c>t * 0.5</c>, <c>t.pow(2)</c>, <c>x.ToScalar()</c> as an argument) is unreachable as soon
/// as its handle has been read, so a garbage collection during the native call can free it while libtorch reads it
/// (two runs here died that way, in <c>addcmul_</c> and <c>pow</c>). These rules make such a temporary a compile error:
/// every Scalar handed to torch must be held by a <c>using</c> variable, a field, or <c>Scalars.Of</c> (a cache that
/// keeps them for the life of the process).
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ScalarLifetimeAnalyzer : DiagnosticAnalyzer
{
    public static readonly DiagnosticDescriptor ImplicitScalar = new(
        "BR0001", "Temporary TorchSharp Scalar",
        "'{0}' becomes a temporary TorchSharp Scalar that a garbage collection may free while libtorch reads it; pass a held Scalar (Scalars.Of(...), a using variable or a field)",
        "Reliability", DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnheldScalar = new(
        "BR0002", "TorchSharp Scalar not held",
        "the Scalar from '{0}' is not held by a using variable or a field, so a garbage collection may free it while libtorch reads it",
        "Reliability", DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor HiddenScalar = new(
        "BR0003", "TorchSharp member that makes a temporary Scalar inside",
        "'{0}' passes a number to TorchSharp's {1}, which turns it into a temporary Scalar inside TorchSharp that a garbage collection may free while libtorch reads it; pass a held Scalar (Scalars.Of(...), a using variable or a field)",
        "Reliability", DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor OwnScalar = new(
        "BR0004", "TorchSharp member that makes a Scalar of its own",
        "'{0}' calls TorchSharp's {1}, which makes a temporary Scalar of its own (an alpha of 1, an exponent, a start or step, a beta) that a garbage collection may free while libtorch reads it; use BridgeRec.Torch.HeldOps (Plus, Plus_, Squared, Arange, Normal, Softplus) or an overload that takes every Scalar, held",
        "Reliability", DiagnosticSeverity.Error, isEnabledByDefault: true);

    /// <summary>
    /// The public members of <c>Tensor</c>, <c>torch</c> and <c>nn.functional</c> in TorchSharp 0.107 whose IL reaches
    /// a Scalar conversion (<c>op_Implicit</c>, <c>ToScalar</c>) directly or through callers: they make a Scalar from a
    /// constant of their own (<c>add(Tensor)</c> passes <c>alpha = 1</c>, <c>square()</c> calls <c>pow(2)</c>). Written as
    /// containing type + "." + name + "(" + parameter metadata names + ")"; a test rescans the referenced TorchSharp.dll
    /// and fails when this list and the scan differ (a TorchSharp upgrade).
    /// </summary>
    public static readonly ImmutableHashSet<string> OwnScalarMembers = ImmutableHashSet.Create(
        "TorchSharp.torch.Tensor.add(Scalar)",
        "TorchSharp.torch.Tensor.add(Tensor)",
        "TorchSharp.torch.Tensor.add_(Scalar)",
        "TorchSharp.torch.Tensor.add_(Tensor)",
        "TorchSharp.torch.Tensor.addcdiv(Tensor,Tensor)",
        "TorchSharp.torch.Tensor.addcdiv_(Tensor,Tensor)",
        "TorchSharp.torch.Tensor.celu()",
        "TorchSharp.torch.Tensor.celu_()",
        "TorchSharp.torch.Tensor.elu(Double)",
        "TorchSharp.torch.Tensor.elu_(Double)",
        "TorchSharp.torch.Tensor.op_Addition(Double,Tensor)",
        "TorchSharp.torch.Tensor.op_Addition(Int32,Tensor)",
        "TorchSharp.torch.Tensor.op_Addition(Int64,Tensor)",
        "TorchSharp.torch.Tensor.op_Addition(Scalar,Tensor)",
        "TorchSharp.torch.Tensor.op_Addition(Single,Tensor)",
        "TorchSharp.torch.Tensor.op_Addition(Tensor,Double)",
        "TorchSharp.torch.Tensor.op_Addition(Tensor,Int32)",
        "TorchSharp.torch.Tensor.op_Addition(Tensor,Int64)",
        "TorchSharp.torch.Tensor.op_Addition(Tensor,Scalar)",
        "TorchSharp.torch.Tensor.op_Addition(Tensor,Single)",
        "TorchSharp.torch.Tensor.op_Addition(Tensor,Tensor)",
        "TorchSharp.torch.Tensor.op_Division(Double,Tensor)",
        "TorchSharp.torch.Tensor.op_Division(Int32,Tensor)",
        "TorchSharp.torch.Tensor.op_Division(Int64,Tensor)",
        "TorchSharp.torch.Tensor.op_Division(Single,Tensor)",
        "TorchSharp.torch.Tensor.op_Division(Tensor,Double)",
        "TorchSharp.torch.Tensor.op_Division(Tensor,Int32)",
        "TorchSharp.torch.Tensor.op_Division(Tensor,Int64)",
        "TorchSharp.torch.Tensor.op_Division(Tensor,Single)",
        "TorchSharp.torch.Tensor.op_Modulus(Tensor,Double)",
        "TorchSharp.torch.Tensor.op_Modulus(Tensor,Int32)",
        "TorchSharp.torch.Tensor.op_Modulus(Tensor,Int64)",
        "TorchSharp.torch.Tensor.op_Modulus(Tensor,Single)",
        "TorchSharp.torch.Tensor.op_Multiply(Double,Tensor)",
        "TorchSharp.torch.Tensor.op_Multiply(Int32,Tensor)",
        "TorchSharp.torch.Tensor.op_Multiply(Int64,Tensor)",
        "TorchSharp.torch.Tensor.op_Multiply(Single,Tensor)",
        "TorchSharp.torch.Tensor.op_Multiply(Tensor,Double)",
        "TorchSharp.torch.Tensor.op_Multiply(Tensor,Int32)",
        "TorchSharp.torch.Tensor.op_Multiply(Tensor,Int64)",
        "TorchSharp.torch.Tensor.op_Multiply(Tensor,Single)",
        "TorchSharp.torch.Tensor.op_Subtraction(Double,Tensor)",
        "TorchSharp.torch.Tensor.op_Subtraction(Int32,Tensor)",
        "TorchSharp.torch.Tensor.op_Subtraction(Int64,Tensor)",
        "TorchSharp.torch.Tensor.op_Subtraction(Scalar,Tensor)",
        "TorchSharp.torch.Tensor.op_Subtraction(Single,Tensor)",
        "TorchSharp.torch.Tensor.op_Subtraction(Tensor,Double)",
        "TorchSharp.torch.Tensor.op_Subtraction(Tensor,Int32)",
        "TorchSharp.torch.Tensor.op_Subtraction(Tensor,Int64)",
        "TorchSharp.torch.Tensor.op_Subtraction(Tensor,Single)",
        "TorchSharp.torch.Tensor.softplus(Double,Double)",
        "TorchSharp.torch.Tensor.square()",
        "TorchSharp.torch.nn.functional.Hardshrink(Tensor,Double)",
        "TorchSharp.torch.nn.functional.Hardtanh(Tensor,Double,Double,Boolean)",
        "TorchSharp.torch.nn.functional.Mish(Tensor)",
        "TorchSharp.torch.nn.functional.Softshrink(Tensor,Double)",
        "TorchSharp.torch.nn.functional.Softsign(Tensor)",
        "TorchSharp.torch.nn.functional.Threshold(Tensor,Double,Double,Boolean)",
        "TorchSharp.torch.nn.functional.celu(Tensor,Double,Boolean)",
        "TorchSharp.torch.nn.functional.elu(Tensor,Double,Boolean)",
        "TorchSharp.torch.nn.functional.hardshrink(Tensor,Double)",
        "TorchSharp.torch.nn.functional.hardtanh(Tensor,Double,Double,Boolean)",
        "TorchSharp.torch.nn.functional.leaky_relu(Tensor,Double,Boolean)",
        "TorchSharp.torch.nn.functional.mish(Tensor,Boolean)",
        "TorchSharp.torch.nn.functional.softplus(Tensor,Double,Double)",
        "TorchSharp.torch.nn.functional.softshrink(Tensor,Double)",
        "TorchSharp.torch.nn.functional.softsign(Tensor,Boolean)",
        "TorchSharp.torch.nn.functional.threshold(Tensor,Double,Double,Boolean)",
        "TorchSharp.torch.add(Tensor,Scalar)",
        "TorchSharp.torch.add(Tensor,Tensor)",
        "TorchSharp.torch.add_(Tensor,Scalar)",
        "TorchSharp.torch.add_(Tensor,Tensor)",
        "TorchSharp.torch.arange(Scalar,Nullable`1,Device,Boolean)",
        "TorchSharp.torch.arange(Scalar,Scalar,Nullable`1,Device,Boolean)",
        "TorchSharp.torch.histogram(Tensor,HistogramBinSelector,Nullable`1,Boolean)",
        "TorchSharp.torch.normal(Double,Double,ReadOnlySpan`1,Nullable`1,Device,Boolean,Generator,String[])",
        "TorchSharp.torch.normal(Tensor,Tensor,Generator)",
        "TorchSharp.torch.square(Tensor)"
    );

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(ImplicitScalar, UnheldScalar, HiddenScalar, OwnScalar);

    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            var scalar = start.Compilation.GetTypeByMetadataName("TorchSharp.Scalar");
            if (scalar is null) return;
            start.RegisterOperationAction(c => CheckConversion(c, scalar), OperationKind.Conversion);
            start.RegisterOperationAction(c => CheckInvocation(c, scalar), OperationKind.Invocation);
            start.RegisterOperationAction(c => CheckOperator(c, scalar), OperationKind.Binary, OperationKind.CompoundAssignment);
        });
    }

    static void CheckConversion(OperationAnalysisContext c, INamedTypeSymbol scalar)
    {
        var conversion = (IConversionOperation)c.Operation;
        if (conversion.OperatorMethod is { } op && SymbolEqualityComparer.Default.Equals(op.ReturnType, scalar) && !IsHeld(conversion))
            c.ReportDiagnostic(Diagnostic.Create(ImplicitScalar, conversion.Syntax.GetLocation(), conversion.Operand.Syntax.ToString()));
    }

    static void CheckOperator(OperationAnalysisContext c, INamedTypeSymbol scalar)
    {
        var method = c.Operation switch
        {
            IBinaryOperation b => b.OperatorMethod,
            ICompoundAssignmentOperation a => a.OperatorMethod,
            _ => null,
        };
        if (method is null) return;
        if (TakesNumberForScalar(method, scalar))
            c.ReportDiagnostic(Diagnostic.Create(HiddenScalar, c.Operation.Syntax.GetLocation(), c.Operation.Syntax.ToString(), method.Name));
        else if (MakesOwnScalar(method, out var signature))
            c.ReportDiagnostic(Diagnostic.Create(OwnScalar, c.Operation.Syntax.GetLocation(), c.Operation.Syntax.ToString(), signature));
    }

    /// <summary>Whether <paramref name="method"/> is one of <see cref="OwnScalarMembers"/>; <paramref name="signature"/> is its key.</summary>
    static bool MakesOwnScalar(IMethodSymbol method, out string signature)
    {
        signature = "";
        var m = method.ReducedFrom ?? method;
        m = m.OriginalDefinition;
        if (m.ContainingType.ContainingNamespace?.ToDisplayString() is not string ns || !ns.StartsWith("TorchSharp", System.StringComparison.Ordinal))
            return false;
        signature = Signature(m);
        return OwnScalarMembers.Contains(signature);
    }

    /// <summary>The key of <see cref="OwnScalarMembers"/>: <c>TorchSharp.torch.Tensor.op_Addition(Tensor,Tensor)</c>.</summary>
    public static string Signature(IMethodSymbol method) =>
        method.ContainingType.ToDisplayString() + "." + method.Name + "(" + string.Join(",", method.Parameters.Select(p => TypeName(p.Type))) + ")";

    static string TypeName(ITypeSymbol type) => type switch
    {
        IArrayTypeSymbol array => TypeName(array.ElementType) + "[]",
        IPointerTypeSymbol pointer => TypeName(pointer.PointedAtType) + "*",
        _ => type.MetadataName,
    };

    /// <summary>
    /// A TorchSharp member with a number where a same-named overload takes a Scalar (<c>Tensor * double</c>,
    /// <c>elu(double)</c>): TorchSharp makes the Scalar itself and drops it during the native call.
    /// </summary>
    static bool TakesNumberForScalar(IMethodSymbol method, INamedTypeSymbol scalar)
    {
        if (method.ContainingType.ContainingNamespace?.ToDisplayString() != "TorchSharp") return false;
        for (int k = 0; k < method.Parameters.Length; k++)
        {
            if (method.Parameters[k].Type.SpecialType is not (SpecialType.System_Double or SpecialType.System_Single or SpecialType.System_Int32 or SpecialType.System_Int64))
                continue;
            foreach (var twin in method.ContainingType.GetMembers(method.Name).OfType<IMethodSymbol>())
                if (twin.Parameters.Length == method.Parameters.Length && SymbolEqualityComparer.Default.Equals(twin.Parameters[k].Type, scalar))
                    return true;
        }
        return false;
    }

    static void CheckInvocation(OperationAnalysisContext c, INamedTypeSymbol scalar)
    {
        var call = (IInvocationOperation)c.Operation;
        if (TakesNumberForScalar(call.TargetMethod, scalar))
            c.ReportDiagnostic(Diagnostic.Create(HiddenScalar, call.Syntax.GetLocation(), call.Syntax.ToString(), call.TargetMethod.Name));
        else if (MakesOwnScalar(call.TargetMethod, out var signature))
            c.ReportDiagnostic(Diagnostic.Create(OwnScalar, call.Syntax.GetLocation(), call.Syntax.ToString(), signature));
        if (!SymbolEqualityComparer.Default.Equals(call.TargetMethod.ReturnType, scalar)) return;
        if (call.TargetMethod.ContainingType.ContainingNamespace?.ToDisplayString() != "TorchSharp") return; // our own helpers own theirs
        if (!IsHeld(call)) c.ReportDiagnostic(Diagnostic.Create(UnheldScalar, call.Syntax.GetLocation(), call.Syntax.ToString()));
    }

    /// <summary>A new Scalar is held when it initialises a using variable or is stored in a field or property.</summary>
    static bool IsHeld(IOperation made)
    {
        var parent = made.Parent;
        while (parent is IConversionOperation { OperatorMethod: null }) { made = parent; parent = parent.Parent; }
        switch (parent)
        {
            case IVariableInitializerOperation init:
                if (init.Parent is IVariableDeclaratorOperation { Parent: IVariableDeclarationOperation { Parent: IVariableDeclarationGroupOperation group } })
                    return group.Parent is IUsingOperation or IUsingDeclarationOperation;
                return false;
            case IFieldInitializerOperation:
            case IPropertyInitializerOperation:
                return true;
            case ISimpleAssignmentOperation assign when ReferenceEquals(assign.Value, made):
                return assign.Target is IFieldReferenceOperation or IPropertyReferenceOperation;
            default:
                return false;
        }
    }
}
