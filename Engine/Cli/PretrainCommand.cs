using System.Diagnostics;
using CommandLine;
using Engine.Autograd;
using Engine.Data;
using Engine.Kernels;
using Engine.Model;
using Engine.Training;

namespace Engine.Cli;

[Verb("pretrain", HelpText = "Next-token training of a small GPT-2 on a text file (or a built-in generated corpus), character level.")]
sealed class PretrainOptions
{
    [Option("data", HelpText = "UTF-8 text file to train on. Default: a generated arithmetic corpus (\"12+7=19\" lines).")]
    public string? Data { get; set; }
    [Option("steps", Default = 300, HelpText = "Optimiser steps.")]
    public int Steps { get; set; }
    [Option("batch", Default = 8, HelpText = "Sequences per step.")]
    public int Batch { get; set; }
    [Option("context", Default = 64, HelpText = "Tokens per sequence.")]
    public int Context { get; set; }
    [Option("layers", Default = 4, HelpText = "Transformer blocks.")]
    public int Layers { get; set; }
    [Option("channels", Default = 128, HelpText = "Model width d.")]
    public int Channels { get; set; }
    [Option("heads", Default = 4, HelpText = "Attention heads.")]
    public int Heads { get; set; }
    [Option("lr", Default = 3e-3f, HelpText = "Peak learning rate (linear warm-up, cosine decay to 10%).")]
    public float Lr { get; set; }
    [Option("warmup", Default = 30, HelpText = "Warm-up steps.")]
    public int Warmup { get; set; }
    [Option("weight-decay", Default = 0.1f, HelpText = "AdamW decoupled weight decay on weight matrices.")]
    public float WeightDecay { get; set; }
    [Option("clip", Default = 1f, HelpText = "Global gradient-norm clip (0 = off).")]
    public float Clip { get; set; }
    [Option("seed", Default = 1, HelpText = "Seed for the data, the initial weights and the batches.")]
    public int Seed { get; set; }
    [Option("device", Default = "auto", HelpText = "auto | cpu | cuda | opencl | ilgpu-cpu.")]
    public string Device { get; set; } = "auto";
    [Option("out", Default = "runs/pretrain", HelpText = "Run folder: metrics.jsonl and summary.json.")]
    public string Out { get; set; } = "runs/pretrain";
    [Option("log-every", Default = 25, HelpText = "Print a line every N steps.")]
    public int LogEvery { get; set; }
    [Option("profile", Default = false, HelpText = "Time every backend primitive and print where the steps spent their time.")]
    public bool Profile { get; set; }
}

static class PretrainCommand
{
    public static int Run(PretrainOptions o)
    {
        if (o.Steps < 1 || o.Batch < 1 || o.Context < 2 || o.Layers < 1 || o.Channels < 1 || o.Heads < 1 || o.LogEvery < 1)
            throw new ArgumentException("pretrain: --steps, --batch, --layers, --channels, --heads, --log-every must be >= 1 and --context >= 2");
        if (o.Channels % o.Heads != 0) throw new ArgumentException($"pretrain: --channels {o.Channels} must be a multiple of --heads {o.Heads}");
        if (!(o.Lr > 0) || !float.IsFinite(o.Lr)) throw new ArgumentException($"pretrain: --lr must be a positive number, got {o.Lr}");

        string text = o.Data is null ? ArithmeticText.Generate(20000, o.Seed) : ReadText(o.Data);
        var vocab = new CharVocab(text);
        int[] tokens = vocab.Encode(text);
        int split = (int)(tokens.Length * 0.9);
        int[] train = tokens[..split], val = tokens[split..];
        if (val.Length < o.Context + 1 || train.Length < o.Context + 1)
            throw new ArgumentException($"pretrain: the text has {tokens.Length} characters; it needs more than {(o.Context + 1) * 10} for --context {o.Context} and a 10% held-out split");

        var device = Backend.Create(o.Device);
        var timing = o.Profile ? new TimingBackend(device) : null;
        IBackend backend = timing ?? device;
        var model = new TinyGpt(backend, vocab.Size, o.Context, o.Channels, o.Heads, o.Layers, o.Seed);
        var opt = new AdamW(model.Decayed, model.NotDecayed) { WeightDecay = o.WeightDecay };
        var schedule = new LrSchedule(o.Lr, o.Warmup, o.Steps);
        long parameters = model.Parameters.Sum(p => (long)p.Size);
        Console.WriteLine($"device: {device.Name}");
        Console.WriteLine($"data: {(o.Data ?? "generated arithmetic")}, {tokens.Length:N0} chars, vocab {vocab.Size}; " +
                          $"model: gpt2 {o.Layers} layers, d={o.Channels}, {o.Heads} heads, {parameters:N0} parameters");

        var rng = new Random(o.Seed);
        float valBefore = Evaluate(model, val, o.Batch, o.Context);
        Console.WriteLine($"val loss before training: {valBefore:F4}");
        using var run = new RunFolder(o.Out);
        var total = Stopwatch.StartNew();
        float loss = float.NaN;
        double tokensPerSecond = 0;
        for (int step = 0; step < o.Steps; step++)
        {
            var sw = Stopwatch.StartNew();
            var (inputs, targets) = Batch(train, o.Batch, o.Context, rng);
            var logits = model.Forward(inputs, o.Batch, o.Context);
            var lossT = Ops.CrossEntropy(logits, targets);
            opt.ZeroGrad();
            lossT.Backward();
            float norm = GradClip.ClipGlobalNorm(opt.Parameters, o.Clip);
            loss = lossT.Item();
            if (!float.IsFinite(loss) || !float.IsFinite(norm))
                throw new InvalidOperationException($"pretrain: loss or gradient became {(float.IsFinite(loss) ? norm : loss)} at step {step}; lower --lr");
            float lr = schedule.At(step);
            opt.Update(lr);
            tokensPerSecond = o.Batch * o.Context / sw.Elapsed.TotalSeconds;
            run.Log(new Dictionary<string, object>
            {
                ["step"] = step, ["loss"] = loss, ["lr"] = lr, ["grad_norm"] = norm, ["tokens_per_s"] = Math.Round(tokensPerSecond, 1),
            });
            if (step % o.LogEvery == 0 || step == o.Steps - 1)
                Console.WriteLine($"step {step,5}/{o.Steps}  loss {loss:F4}  lr {lr:E2}  grad_norm {norm:F3}  {tokensPerSecond:N0} tok/s");
        }
        double seconds = total.Elapsed.TotalSeconds;
        float valAfter = Evaluate(model, val, o.Batch, o.Context);
        Console.WriteLine($"val loss: {valBefore:F4} -> {valAfter:F4}  ({seconds:F1} s, {o.Steps * o.Batch * o.Context / seconds:N0} tok/s)");
        string prompt = o.Data is null ? "12+34=" : vocab.Decode(val[..Math.Min(8, val.Length)]);
        Console.WriteLine($"greedy sample: {Escape(prompt + Greedy(model, vocab, prompt, 24))}");
        run.WriteSummary(new Dictionary<string, object>
        {
            ["steps"] = o.Steps, ["final_loss"] = loss, ["val_loss_before"] = valBefore, ["val_loss"] = valAfter,
            ["seconds"] = Math.Round(seconds, 2), ["tokens_per_s"] = Math.Round(o.Steps * o.Batch * o.Context / seconds, 1),
            ["parameters"] = parameters, ["device"] = device.Name, ["seed"] = o.Seed,
        });
        Console.WriteLine($"wrote {Path.Combine(o.Out, "metrics.jsonl")} and summary.json");
        if (timing is not null) Console.Write(timing.FormatReport());
        return 0;
    }

    static string ReadText(string path)
    {
        if (!File.Exists(path)) throw new ArgumentException($"pretrain: --data {path}: no such file");
        return File.ReadAllText(path);
    }

    /// <summary>B random windows of T+1 tokens: inputs are the first T, targets the last T.</summary>
    static (int[] Inputs, int[] Targets) Batch(int[] tokens, int batch, int steps, Random rng)
    {
        var inputs = new int[batch * steps];
        var targets = new int[batch * steps];
        for (int b = 0; b < batch; b++)
        {
            int start = rng.Next(tokens.Length - steps);
            Array.Copy(tokens, start, inputs, b * steps, steps);
            Array.Copy(tokens, start + 1, targets, b * steps, steps);
        }
        return (inputs, targets);
    }

    /// <summary>Mean loss over up to 8 fixed, evenly spaced batches of the held-out split (no grad).</summary>
    static float Evaluate(TinyGpt model, int[] val, int batch, int steps)
    {
        using var _ = GradMode.Disable();
        int windows = (val.Length - 1) / steps;
        int batches = Math.Max(1, Math.Min(8, windows / batch));
        double sum = 0;
        for (int i = 0; i < batches; i++)
        {
            var inputs = new int[batch * steps];
            var targets = new int[batch * steps];
            for (int b = 0; b < batch; b++)
            {
                int start = (int)((long)(i * batch + b) * (val.Length - steps - 1) / Math.Max(1, batches * batch - 1));
                Array.Copy(val, start, inputs, b * steps, steps);
                Array.Copy(val, start + 1, targets, b * steps, steps);
            }
            sum += Ops.CrossEntropy(model.Forward(inputs, batch, steps), targets).Item();
        }
        return (float)(sum / batches);
    }

    /// <summary>Greedy continuation by full forwards (the KV-cache sampler is the model issue's work).</summary>
    static string Greedy(TinyGpt model, CharVocab vocab, string prompt, int count)
    {
        using var _ = GradMode.Disable();
        var ids = vocab.Encode(prompt).ToList();
        for (int i = 0; i < count; i++)
        {
            var window = ids.Skip(Math.Max(0, ids.Count - model.Context)).ToArray();
            var logits = model.Forward(window, 1, window.Length).ToArray();
            int best = 0;
            int last = (window.Length - 1) * model.Vocab;
            for (int v = 1; v < model.Vocab; v++) if (logits[last + v] > logits[last + best]) best = v;
            ids.Add(best);
        }
        return vocab.Decode(ids.Skip(vocab.Encode(prompt).Length));
    }

    static string Escape(string s) => s.Replace("\n", "\\n");
}
