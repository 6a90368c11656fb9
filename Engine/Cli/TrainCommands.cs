using CommandLine;
using Engine.Checkpoints;
using Engine.Data;
using Engine.Model;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.Cli;

[Verb("pretrain", HelpText = "Next-token training on a text file (or a generated arithmetic corpus).")]
sealed class PretrainOptions : TrainOptions
{
    [Option("data", HelpText = "UTF-8 text file. Default: generated \"12+7=19\" lines.")]
    public string? Data { get; set; }
    [Option("align-docs", Default = false,
        HelpText = "Start every training window at a document (the text's start or just after an <|endoftext|>), so " +
        "a prompt's first token sits at position 0 as it will at generation.")]
    public bool AlignDocs { get; set; }
}

[Verb("sft", HelpText = "Supervised fine-tuning on JSONL {\"prompt\",\"completion\"}, loss on completion tokens only.")]
sealed class SftOptions : TrainOptions
{
    [Option("data", HelpText = "JSONL file of {\"prompt\",\"completion\"}. Default: generated arithmetic pairs (\"12+7=\" → \"19\").")]
    public string? Data { get; set; }
}

static class TrainCommands
{
    public static int Pretrain(PretrainOptions o) => Train(o, "pretrain", (model, tok) =>
    {
        string text = o.Data is null ? ArithmeticText.Generate(20000, o.Seed)
            : File.Exists(o.Data) ? File.ReadAllText(o.Data) : throw new ArgumentException($"--data {o.Data}: no such file");
        if (text.Length == 0) throw new ArgumentException($"--data {o.Data}: the file is empty");
        int[] tokens = tok.Encode(text);
        Console.WriteLine($"data: {o.Data ?? "generated arithmetic"}, {text.Length:N0} chars, {tokens.Length:N0} tokens");
        var data = new TextData(tokens, model.Config.MaxPositions, documentEnd: o.AlignDocs ? tok.EosId : null);
        if (o.AlignDocs) Console.WriteLine($"data: windows start at {data.WindowStarts:N0} document starts");
        return data;
    });

    public static int Sft(SftOptions o) => Train(o, "sft", (model, tok) =>
    {
        var pairs = o.Data is null ? ArithmeticText.Pairs(4000, o.Seed).ToList() : SftData.ReadJsonl(o.Data).ToList();
        var data = new SftData(pairs, tok, model.Config.MaxPositions);
        Console.WriteLine($"data: {o.Data ?? "generated arithmetic pairs"}, {data.Count:N0} examples" +
                          (data.Truncated > 0 ? $" ({data.Truncated} cut at the context of {model.Config.MaxPositions})" : ""));
        return data;
    });

    static int Train(TrainOptions o, string kind, Func<Transformer, ITokenizer, ILmData> makeData)
    {
        if (o.Steps < 1 || o.Batch < 1 || o.GradAccum < 1 || o.LogEvery < 1 || o.EvalBatches < 1)
            throw new ArgumentException($"{kind}: --steps, --batch, --grad-accum, --log-every and --eval-batches must be >= 1");
        if (o.EvalEvery < 0 || o.SaveEvery < 0 || o.Warmup < 0)
            throw new ArgumentException($"{kind}: --eval-every, --save-every and --warmup must be >= 0");
        Check.PositiveFinite(o.Lr, "--lr");
        Check.NonNegativeFinite(o.Clip, "--clip");
        Check.NonNegativeFinite(o.WeightDecay, "--weight-decay");
        var runDir = RunDirs.For(kind, o, o.Resume, o.Steps);
        var (_, backend, timing) = ModelSetup.Backend(o, o.Profile);
        var (model, tokenizer) = ModelSetup.Create(o, backend, o.Resume ?? o.Checkpoint, o.Resume is null ? "--checkpoint" : "--resume");
        var data = makeData(model, tokenizer);
        string outDir = runDir.Claim();
        var optimizer = AdamW.For(model, o.WeightDecay);
        var rng = new Rng(o.Seed);
        int start = 0;
        if (o.Resume is not null) start = Checkpoint.Resume(o.Resume, optimizer, rng, kind);
        var options = new LmTrainOptions
        {
            Steps = o.Steps, Batch = o.Batch, GradAccum = o.GradAccum, Clip = o.Clip, Schedule = new LrSchedule(o.Lr, o.Warmup, o.Steps),
            EvalEvery = o.EvalEvery, EvalBatches = o.EvalBatches, SaveEvery = o.SaveEvery, LogEvery = o.LogEvery, Out = outDir,
            Seed = o.Seed, Kind = kind,
        };
        LmTrainResult r;
        using (Interrupt.Defer()) r = LmTrainer.Train(model, tokenizer, optimizer, data, rng, options, start);
        Console.WriteLine($"{kind}: held-out loss {r.EvalLossBefore:F4} -> {r.EvalLoss:F4}; {r.Seconds:F1} s, " +
            $"{r.TokensPerSecond:N0} tokens/s");
        Console.WriteLine($"wrote {Path.Combine(outDir, "final")}, metrics.jsonl and summary.json");
        if (timing is not null) Console.Write(timing.FormatReport());
        return 0;
    }
}
