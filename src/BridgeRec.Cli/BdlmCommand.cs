using System.CommandLine;
using BridgeRec.Bridge;
using BridgeRec.Bridge.Experiments;
using BridgeRec.Domain;
using BridgeRec.Language;
using BridgeRec.LlmRec;
using BridgeRec.Models;
using Spectre.Console;

namespace BridgeRec.Cli;

/// <summary>bdlm: collaborative training of a trained DSM folder and the LLM recommender (MiniLM or Arctic-embed-xs) into a folder both inference paths read.</summary>
public static class BdlmCommand
{
    static readonly Option<string> From = new("--from") { Description = "trained DSM folder (from 'bridgerec train'): stage 0", Required = true };
    static readonly Option<string> Out = new("--out") { Description = "model folder to write (DSM + LLM)", DefaultValueFactory = _ => "runs/bdlm" };
    static readonly Option<int?> Rounds = new("--rounds") { Description = "rounds of (LLM phase, DSM phase); with --round-patience, the most that run (default 5)" };
    static readonly Option<int?> RoundPatience = new("--round-patience") { Description = "stop the rounds once this many in a row raised neither model's validation figure; 0: every round runs (default 2)" };
    static readonly Option<double?> Lambda = new("--lambda") { Description = "weight of the distillation terms; 0 = plain alternating updates of the shared module (default 0.5)" };
    static readonly Option<double?> Tau = new("--tau") { Description = "temperature of the KL distillation (--distill kl) (default 2)" };
    static readonly Option<string?> Distill = new("--distill") { Description = "distillation both ways: rank (the teacher's top-K unseen items, position-weighted, gated by rank discrepancy) or kl (full-softmax KL) (default: kl for LightGCN and MF, rank for SASRec)" };
    static readonly Option<int?> TopK = new("--top-k") { Description = "K of the rank distillation (default 20)" };
    static readonly Option<bool> NoGate = new("--no-gate") { Description = "rank distillation of every top-K item, not only those the student ranks lower" };
    static readonly Option<bool> NoResidual = new("--no-private-rows") { Description = "the LLM trains the shared tables itself instead of private residual rows over them" };
    static readonly Option<bool> NoItemText = new("--no-item-text") { Description = "the LLM scores items by their rows only, without their text embeddings" };
    static readonly Option<bool> DsmRows = new("--dsm-rows") { Description = "the LLM reads LightGCN's / MF's final rows (after propagation) under its private rows, so with the user skip and raw dot products it starts at the DSM's scores (default for LightGCN and MF; refused for SASRec)" };
    static readonly Option<bool> NoDsmRows = new("--no-dsm-rows") { Description = "the LLM reads the shared module's ego rows instead of the DSM's final rows" };
    static readonly Option<bool> UserSkip = new("--user-skip") { Description = "the LLM's query adds the user's row (with a SASRec DSM: its representation of the prompt's history) (default)" };
    static readonly Option<bool> NoUserSkip = new("--no-user-skip") { Description = "the LLM's query is A_out of the backbone's output alone, without the user's row" };
    static readonly Option<double?> Temperature = new("--temperature") { Description = "temperature of the LLM's normalised scores; 0: raw dot products (default 0)" };
    static readonly Option<string?> LlmTarget = new("--llm-target") { Description = "what the LLM learns to predict: next (the item after a random prefix of the user's sequence) or set (the user's other items, given a random subset of them) (default: next where the data has timestamps, set where it has none)" };
    static readonly Option<int?> LlmEpochs = new("--llm-epochs") { Description = "LLM epochs per round (default 1)" };
    static readonly Option<int?> LlmBatch = new("--llm-batch") { Description = "prompts per LLM step (default 16)" };
    static readonly Option<int?> DsmEpochs = new("--dsm-epochs") { Description = "DSM epochs per round (default 20)" };
    static readonly Option<double?> LrIsm = new("--lr-ism") { Description = "learning rate of the rows the LLM phase trains (its private rows; the shared module with --no-private-rows) (default 0.0001)" };
    static readonly Option<double?> LrAdapters = new("--lr-adapters") { Description = "learning rate of A_in / A_out and the item tower's text projection (default 0.0001)" };
    static readonly Option<double?> LrBackbone = new("--lr-backbone") { Description = "learning rate of the trainable backbone weights (LoRA or all) (default 0.0001)" };
    static readonly Option<double?> DsmLr = new("--dsm-lr") { Description = "learning rate of the DSM phases (default: a tenth of the stage-0 DSM's)" };
    static readonly Option<bool> DsmFresh = new("--dsm-fresh") { Description = "each DSM phase trains the DSM again from its initial weights for a whole early-stopped run, with the distillation from that round's LLM (the default for LightGCN and MF)" };
    static readonly Option<bool> NoDsmFresh = new("--no-dsm-fresh") { Description = "each DSM phase continues from where the LLM phase left the DSM (dsm-epochs at a tenth of its rate; the default for SASRec)" };
    static readonly Option<string?> Mode = new("--mode") { Description = "backbone training: frozen | lora | full (default lora)" };
    static readonly Option<string?> Precision = new("--precision") { Description = "arithmetic of the backbone's linear layers: fp32 | bf16 (faster on CPUs with AVX-512 BF16 or AMX; default fp32)" };
    static readonly Option<int?> LoraRank = new("--lora-rank") { Description = "LoRA rank (default 8)" };
    static readonly Option<int?> MaxHistory = new("--max-history") { Description = "most recent items in a prompt (default 20)" };
    static readonly Option<int?> MaxTokens = new("--max-tokens") { Description = "prompt token budget (default 256)" };

    public static Command Create()
    {
        var c = new Command("bdlm", "BDLM: train the LLM recommender and the DSM of a trained model folder together through their shared module; writes a folder for 'recommend --via dsm|llm'")
        {
            From, Out, Rounds, RoundPatience, Lambda, Tau, Distill, TopK, NoGate, NoResidual, NoItemText, UserSkip, NoUserSkip, DsmRows, NoDsmRows, Temperature, LlmTarget, LlmEpochs, LlmBatch, DsmEpochs, LrIsm, LrAdapters, LrBackbone, DsmLr, DsmFresh, NoDsmFresh, Options.Backbone, Mode, Precision, LoraRank, MaxHistory, MaxTokens, Options.Seed, Options.Overwrite,
        };
        c.SetAction((p, ct) => Program.Guard(() =>
        {
            var defaults = new BdlmOptions();
            if (p.GetValue(DsmFresh) && p.GetValue(NoDsmFresh)) throw new ArgumentException("--dsm-fresh and --no-dsm-fresh: give one");
            var options = defaults with
            {
                Rounds = p.GetValue(Rounds) ?? defaults.Rounds,
                RoundPatience = p.GetValue(RoundPatience) is int patience ? (patience == 0 ? null : patience) : defaults.RoundPatience,
                Lambda = p.GetValue(Lambda) ?? defaults.Lambda,
                Tau = p.GetValue(Tau) ?? defaults.Tau,
                Distill = p.GetValue(Distill) ?? defaults.Distill,
                TopK = p.GetValue(TopK) ?? defaults.TopK,
                Gate = !p.GetValue(NoGate),
                LlmTarget = p.GetValue(LlmTarget) ?? defaults.LlmTarget,
                LlmEpochs = p.GetValue(LlmEpochs) ?? defaults.LlmEpochs,
                LlmBatch = p.GetValue(LlmBatch) ?? defaults.LlmBatch,
                DsmEpochs = p.GetValue(DsmEpochs) ?? defaults.DsmEpochs,
                LrIsm = p.GetValue(LrIsm) ?? defaults.LrIsm,
                DsmLr = p.GetValue(DsmLr) ?? defaults.DsmLr,
                // unset: decided by the stage-0 DSM (fresh for LightGCN and MF, continued for SASRec).
                DsmFresh = p.GetValue(DsmFresh) ? true : p.GetValue(NoDsmFresh) ? false : defaults.DsmFresh,
                LrAdapters = p.GetValue(LrAdapters) ?? defaults.LrAdapters,
                LrBackbone = p.GetValue(LrBackbone) ?? defaults.LrBackbone,
                Seed = p.GetValue(Options.Seed) ?? defaults.Seed,
            };
            var prompt = new PromptOptions();
            prompt = prompt with { MaxHistory = p.GetValue(MaxHistory) ?? prompt.MaxHistory, MaxTokens = p.GetValue(MaxTokens) ?? prompt.MaxTokens };
            var backbone = new BackboneSettings();
            backbone = backbone with
            {
                Name = Options.BackboneName(p), Mode = p.GetValue(Mode) ?? backbone.Mode, Lora = backbone.Lora with { Rank = p.GetValue(LoraRank) ?? backbone.Lora.Rank },
                Precision = p.GetValue(Precision),
            };
            backbone.Validate(); // --backbone, --mode and --precision
            string from = Path.GetFullPath(p.GetValue(From)!), outDir = Path.GetFullPath(p.GetValue(Out)!);
            if (from == outDir) throw new ArgumentException($"--out {outDir}: must differ from --from (the stage-0 folder is read, never overwritten)");
            var towerDefaults = new LlmTowerOptions();
            double? temperature = p.GetValue(Temperature) is double t ? (t == 0 ? null : t) : towerDefaults.Temperature;
            if (p.GetValue(UserSkip) && p.GetValue(NoUserSkip)) throw new ArgumentException("--user-skip and --no-user-skip: give one");
            if (p.GetValue(DsmRows) && p.GetValue(NoDsmRows)) throw new ArgumentException("--dsm-rows and --no-dsm-rows: give one");
            // dsm_rows unset: decided by the stage-0 DSM (on for LightGCN and MF, off for SASRec).
            bool? dsmRows = p.GetValue(DsmRows) ? true : p.GetValue(NoDsmRows) ? false : towerDefaults.DsmRows;
            var tower = towerDefaults with
            {
                Residual = !p.GetValue(NoResidual), ItemText = !p.GetValue(NoItemText), UserSkip = !p.GetValue(NoUserSkip),
                DsmRows = dsmRows, Temperature = temperature,
            };
            tower.Validate();
            Run(from, outDir, options, new LlmSpec { Prompt = prompt, Backbone = backbone, Tower = tower }, ct, p.GetValue(Options.Overwrite));
            return 0;
        }));
        return c;
    }

    /// <summary>Loads the stage-0 folder, runs BDLM with progress lines, prints both models' test metrics.</summary>
    public static BdlmRun Run(string from, string outDir, BdlmOptions options, LlmSpec spec, CancellationToken ct, bool overwrite = false)
    {
        var (config, split, model) = AnsiConsole.Status().Start("loading the stage-0 model and data", _ => DsmFolder.Load(from));
        if (model is not DomainModel dsm) throw new ArgumentException($"--from {from}: a {config.Model} model has no shared module to train; train lightgcn or mf first");
        AnsiConsole.MarkupLine(Markup.Escape($"BDLM from {config.Model} ({from}): {options.Rounds} round(s), lambda {options.Lambda}, tau {options.Tau}, {spec.Backbone.Display} {spec.Backbone.Mode}, prompts of up to {spec.Prompt.MaxHistory} items / {spec.Prompt.MaxTokens} tokens"));
        int lastTenth = -1;
        var trainer = new BdlmTrainer(options, config.Train)
        {
            Log = s => AnsiConsole.MarkupLine(Markup.Escape($"[{DateTime.Now:HH:mm:ss}] {s}")),
            Progress = (round, done, all) =>
            {
                int tenth = done * 10 / Math.Max(1, all);
                if (tenth == lastTenth && done < all) return;
                lastTenth = done == all ? -1 : tenth;
                AnsiConsole.MarkupLine(Markup.Escape($"[{DateTime.Now:HH:mm:ss}]   round {round} LLM phase: {done}/{all} users"));
            },
        };
        var run = BdlmPipeline.Run(config, split, dsm, spec, options, outDir, trainer, ct, overwrite);
        ConsoleUi.Metrics($"BDLM-DSM ({config.Model}, round {run.Train.BestDsmRound}), test", run.DsmTest);
        ConsoleUi.Metrics($"BDLM-LLM ({spec.Backbone.Display}, round {run.Train.BestLlmRound}), test", run.LlmTest);
        AnsiConsole.MarkupLine(Markup.Escape($"model folder: {outDir} ({run.Seconds:F0}s)"));
        dsm.Dispose();
        return run;
    }
}
