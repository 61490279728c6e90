using System.Diagnostics;
using System.Text.Json;
using BridgeRec.Torch;
using static TorchSharp.torch;

// Multiplies a tensor by 0.5 again and again while another thread makes garbage and forces collections, so that
// finalizers run during the native calls. "temporary" passes a Scalar made on the fly (what TorchSharp's operators and
// implicit conversions do); "held" passes one from Scalars.Of. "tensor" passes a temporary tensor as an argument,
// outside any dispose scope; "tensor-scoped" does the same inside one; "held-plus" adds the temporary tensor with the
// held-alpha helper (x.Plus(...), analyzer rule BR0004) inside a dispose scope. A wrong result or an exception is a failure.
string mode = args.Length > 0 ? args[0] : "temporary";
double seconds = args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 30;
if (mode is not ("temporary" or "held" or "tensor" or "tensor-scoped" or "held-plus"))
{
    Console.Error.WriteLine("usage: scalar-stress temporary|held|tensor|tensor-scoped|held-plus [seconds]");
    return 2;
}

bool stop = false;
long collections = 0;
var pressure = new Thread(() =>
{
    var keep = new object[64];
    while (!Volatile.Read(ref stop))
    {
        for (int i = 0; i < 2000; i++) keep[i & 63] = new byte[128];
        GC.Collect();
        Interlocked.Increment(ref collections);
    }
}) { IsBackground = true };

using var x = ones(4);
long ops = 0, wrong = 0, errors = 0;
string? firstError = null;
var clock = Stopwatch.StartNew();
pressure.Start();
while (clock.Elapsed.TotalSeconds < seconds)
{
    try
    {
        using var scope = mode is "tensor-scoped" or "held-plus" ? NewDisposeScope() : null;
#pragma warning disable BR0001, BR0004 // the hazard under test
        using var y = mode switch
        {
            "temporary" => x.mul(0.5),
            "held" => x.mul(Scalars.Of(0.5)),
            "held-plus" => x.Plus(x.mul(Scalars.Of(-0.5))),
            _ => x.add(x.mul(Scalars.Of(-0.5))), // a temporary tensor as the argument: held only by a dispose scope
        };
#pragma warning restore BR0001, BR0004
        if (y.sum().item<float>() != 2f) wrong++;
    }
    catch (Exception e)
    {
        errors++;
        firstError ??= e.Message;
    }
    ops++;
}
Volatile.Write(ref stop, true);
pressure.Join();
var result = new { mode, seconds = clock.Elapsed.TotalSeconds, ops, collections, wrong, errors, first_error = firstError };
Console.WriteLine(JsonSerializer.Serialize(result));
return wrong + errors > 0 ? 1 : 0;
