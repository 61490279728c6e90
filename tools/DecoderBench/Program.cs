using System.Diagnostics;
using System.Globalization;
using BridgeRec.Language;
using BridgeRec.Torch;
using TorchSharp;
using static TorchSharp.torch;

// Memory and speed of a decoder on this machine's CPU, with random weights of a named shape or a checkpoint folder:
// parameters, float32 weight bytes, process memory, prompt (prefill) tokens/s, decoding tokens/s with the KV cache,
// and one LoRA training step (forward + backward) of a batch of prompts. Rates are given per wall-clock second and
// per CPU second of this process (the second does not depend on other load on the machine; with one thread it is
// what one dedicated core gives).
//   decoder-bench <gpt2-small | qwen2.5-0.5b | tinyllama-1.1b | tiny-qwen2 | FOLDER> [prompt tokens] [new tokens] [threads]
var shapes = new Dictionary<string, DecoderConfig>
{
    ["gpt2-small"] = new() { Architecture = DecoderArchitecture.Gpt2, VocabSize = 50257, Hidden = 768, Layers = 12, Heads = 12, KvHeads = 12, HeadDim = 64, Intermediate = 3072, MaxPositions = 1024, NormEps = 1e-5, TieWordEmbeddings = true, QkvBias = true, OutputBias = true, MlpBias = true },
    ["qwen2.5-0.5b"] = new() { Architecture = DecoderArchitecture.Qwen2, VocabSize = 151936, Hidden = 896, Layers = 24, Heads = 14, KvHeads = 2, HeadDim = 64, Intermediate = 4864, MaxPositions = 32768, NormEps = 1e-6, RopeTheta = 1e6, TieWordEmbeddings = true, QkvBias = true },
    ["tinyllama-1.1b"] = new() { Architecture = DecoderArchitecture.Llama, VocabSize = 32000, Hidden = 2048, Layers = 22, Heads = 32, KvHeads = 4, HeadDim = 64, Intermediate = 5632, MaxPositions = 2048, NormEps = 1e-5, TieWordEmbeddings = false },
    ["tiny-qwen2"] = new() { Architecture = DecoderArchitecture.Qwen2, VocabSize = 8192, Hidden = 256, Layers = 4, Heads = 4, KvHeads = 2, HeadDim = 64, Intermediate = 688, MaxPositions = 2048, NormEps = 1e-6, RopeTheta = 1e6, TieWordEmbeddings = true, QkvBias = true },
};
string what = args.Length > 0 ? args[0] : "tiny-qwen2";
int promptTokens = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 128;
int newTokens = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 32;
if (args.Length > 3) torch.set_num_threads(int.Parse(args[3], CultureInfo.InvariantCulture));

var clock = Stopwatch.StartNew();
DecoderModel model = shapes.TryGetValue(what, out var shape) ? DecoderModel.Create(shape) : DecoderCheckpoint.LoadModel(what);
model.SetTrainingMode(TrainingMode.Frozen);
model.eval();
var c = model.Config;
double loadSeconds = clock.Elapsed.TotalSeconds;
long parameters = model.TotalParameters();
Console.WriteLine(FormattableString.Invariant($"{what}: {c}"));
Console.WriteLine(FormattableString.Invariant($"parameters {parameters / 1e6:F1} M (config estimate {c.ParameterCount() / 1e6:F1} M), float32 weights {parameters * 4 / 1e9:F2} GB, built in {loadSeconds:F1} s, {torch.get_num_threads()} threads"));
Console.WriteLine(FormattableString.Invariant($"process memory after loading: {Process.GetCurrentProcess().WorkingSet64 / 1e9:F2} GB"));

var me = Process.GetCurrentProcess();
double Cpu() { me.Refresh(); return me.TotalProcessorTime.TotalSeconds; }
var rng = new Random(1);
long[] Random(int n) => Enumerable.Range(0, n).Select(_ => (long)rng.Next(c.VocabSize)).ToArray();

using (no_grad())
{
    // Warm-up of both shapes, then measured runs.
    for (int pass = 0; pass < 2; pass++)
    {
        using var scope = NewDisposeScope();
        using var cache = new KvCache(c.Layers);
        var prompt = tensor(Random(promptTokens), [1, promptTokens]);
        var sw = Stopwatch.StartNew();
        double cpu0 = Cpu();
        var h = model.Forward(prompt, ones_like(prompt), null, cache);
        long next = model.Logits(h.select(1, -1)).argmax(-1).item<long>();
        double prefill = sw.Elapsed.TotalSeconds, prefillCpu = Cpu() - cpu0;
        sw.Restart();
        cpu0 = Cpu();
        int steps = pass == 0 ? 2 : newTokens;
        for (int k = 0; k < steps; k++)
        {
            using var step = NewDisposeScope();
            var ids = tensor(new[] { next }, [1, 1]);
            next = model.Logits(model.Forward(ids, ones_like(ids), null, cache).select(1, -1)).argmax(-1).item<long>();
        }
        double decode = sw.Elapsed.TotalSeconds, decodeCpu = Cpu() - cpu0;
        if (pass == 1)
        {
            Console.WriteLine(FormattableString.Invariant($"prompt of {promptTokens} tokens: {prefill:F2} s wall, {prefillCpu:F2} s CPU: {promptTokens / prefill:F0} tokens/s wall, {promptTokens / prefillCpu:F0} per CPU second"));
            Console.WriteLine(FormattableString.Invariant($"decoding {steps} tokens with the KV cache: {decode:F2} s wall, {decodeCpu:F2} s CPU: {steps / decode:F1} tokens/s wall, {steps / decodeCpu:F1} per CPU second"));
        }
    }
}

// One LoRA step on a batch of 8 prompts of 64 tokens (what an LLM phase of BDLM does per batch, without the adapters' heads).
model.SetTrainingMode(TrainingMode.Lora, new LoraOptions { Rank = 8, Targets = ["query", "value"] });
model.train();
for (int pass = 0; pass < 2; pass++)
{
    using var scope = NewDisposeScope();
    var ids = tensor(Random(8 * 64), [8, 64]);
    var sw = Stopwatch.StartNew();
    double cpu0 = Cpu();
    var pooled = model.Pool(model.Forward(ids, ones_like(ids), null), ones_like(ids));
    pooled.pow(Scalars.Of(2L)).mean().backward();
    if (pass == 1) Console.WriteLine(FormattableString.Invariant($"LoRA training step, 8 x 64 tokens, forward + backward: {sw.Elapsed.TotalSeconds:F2} s wall, {Cpu() - cpu0:F2} s CPU"));
    foreach (var p in model.parameters()) p.grad?.zero_();
}
Console.WriteLine(FormattableString.Invariant($"peak process memory: {Process.GetCurrentProcess().PeakWorkingSet64 / 1e9:F2} GB"));
