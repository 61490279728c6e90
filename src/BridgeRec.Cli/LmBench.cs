using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using BridgeRec.IO;
using BridgeRec.Language;
using BridgeRec.Torch;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace BridgeRec.Cli;

/// <summary>bench lm: MiniLM-L6 throughput in TorchSharp for frozen, LoRA and full training.</summary>
public static class LmBench
{
    public static Command Create()
    {
        var batch = new Option<int>("--batch") { Description = "sequences per step", DefaultValueFactory = _ => 32 };
        var seq = new Option<int>("--seq") { Description = "tokens per sequence", DefaultValueFactory = _ => 128 };
        var steps = new Option<int>("--steps") { Description = "timed steps per mode (after one warm-up)", DefaultValueFactory = _ => 5 };
        var save = new Option<string?>("--save-weights") { Description = "also write the weights as safetensors (for bench/lm_torch.py)" };
        var precision = new Option<string>("--precision") { Description = "arithmetic of the linear layers: fp32 | bf16 (backbone.precision)", DefaultValueFactory = _ => Precision.Fp32 };
        var c = new Command("lm", "tokens/s of the MiniLM-L6 backbone: frozen forward, LoRA (r=8, query+value) and full forward+backward+AdamW step")
        {
            batch, seq, steps, save, precision,
        };
        c.SetAction(p => Program.Guard(() =>
        {
            int b = p.GetValue(batch), s = p.GetValue(seq), n = p.GetValue(steps);
            if (b < 1 || s < 2 || n < 1) throw new ArgumentException("--batch, --seq and --steps must be positive (--seq >= 2)");
            string arithmetic = Precision.Check(p.GetValue(precision));
            var (model, _) = BertCheckpoint.MiniLm();
            if (p.GetValue(save) is { } path)
                SafeTensors.Save(path, model.Weights());
            Precision.Apply(model, arithmetic);
            manual_seed(0);
            var ids = randint(1000, 30000, [b, s], dtype: ScalarType.Int64);
            var mask = ones_like(ids);
            long tokens = (long)b * s;

            double frozen = Time(n, tokens, () =>
            {
                using var _ = no_grad();
                using var scope = NewDisposeScope();
                model.Forward(ids, mask);
            });

            double Train(TrainingMode mode, double lr, LoraOptions? lora = null)
            {
                var (m, _) = BertCheckpoint.MiniLm();
                long trainable = m.SetTrainingMode(mode, lora);
                Precision.Apply(m, arithmetic);
                m.train();
                using var opt = new BridgeRec.Native.SafeAdam(m.parameters().Where(x => x.requires_grad), lr, weightDecay: 0.01);
                double tps = Time(n, tokens, () =>
                {
                    using var scope = NewDisposeScope();
                    opt.ZeroGrad();
                    m.Forward(ids, mask).pow(Scalars.Of(2L)).mean().backward();
                    opt.Step();
                });
                AnsiConsole.MarkupLine(Markup.Escape($"{mode}: {trainable:N0} trainable of {m.TotalParameters():N0} parameters"));
                m.Dispose();
                return tps;
            }

            double lora = Train(TrainingMode.Lora, 1e-4, new LoraOptions { Rank = 8, Alpha = 16, Targets = ["query", "value"] });
            double full = Train(TrainingMode.Full, 1e-5);
            var json = new JsonObject
            {
                ["model"] = "all-MiniLM-L6-v2",
                ["batch"] = b,
                ["seq"] = s,
                ["precision"] = arithmetic,
                ["threads"] = get_num_threads(),
                ["frozen_fwd_tokens_per_s"] = Math.Round(frozen, 1),
                ["lora_fwd_bwd_tokens_per_s"] = Math.Round(lora, 1),
                ["full_fwd_bwd_tokens_per_s"] = Math.Round(full, 1),
                ["peak_rss_mb"] = Math.Round(BenchCommands.PeakRssMb(), 1),
            };
            BenchCommands.Print(json);
            return 0;
        }));
        return c;
    }

    /// <summary>Tokens per second over <paramref name="steps"/> timed runs after one warm-up.</summary>
    static double Time(int steps, long tokens, Action step)
    {
        step();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++) step();
        return tokens * steps / sw.Elapsed.TotalSeconds;
    }
}
