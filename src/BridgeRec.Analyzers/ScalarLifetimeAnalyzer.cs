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

    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(ImplicitScalar, UnheldScalar, HiddenScalar);

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
        if (method is not null && TakesNumberForScalar(method, scalar))
            c.ReportDiagnostic(Diagnostic.Create(HiddenScalar, c.Operation.Syntax.GetLocation(), c.Operation.Syntax.ToString(), method.Name));
    }

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
