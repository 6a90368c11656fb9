using Engine.Tokenizers;

namespace Engine.Data;

/// <summary>A batch for next-token training: inputs and targets [B, T]; target −1 = no loss there.</summary>
public sealed record LmBatch(int[] Inputs, int[] Targets, int Batch, int Steps)
{
    public int CountedTokens => Targets.Count(t => t >= 0);
}

public interface ILmData
{
    /// <summary>A random training batch, drawn from the run's seeded generator.</summary>
    LmBatch Sample(Rng rng, int batch);
    /// <summary>Fixed held-out batches, the same on every call.</summary>
    IReadOnlyList<LmBatch> Eval(int batch, int maxBatches);
}

/// <summary>Pretraining: windows of T+1 tokens from a token stream; the last 10% is held out.</summary>
public sealed class TextData : ILmData
{
    readonly int[] train, val;
    readonly int[]? starts;
    readonly int steps;

    /// <summary>
    /// documentEnd: a token id (EOS) that ends documents; when given, training windows start only at a document
    /// start (nanochat's BOS-aligned batches), so a model with learned absolute positions sees each prompt at
    /// position 0, where it will be at generation, instead of at any offset.
    /// </summary>
    public TextData(int[] tokens, int steps, double valFraction = 0.1, int? documentEnd = null)
    {
        this.steps = steps;
        int split = (int)(tokens.Length * (1 - valFraction));
        train = tokens[..split];
        val = tokens[split..];
        if (train.Length < steps + 1 || val.Length < steps + 1)
            throw new ArgumentException($"pretrain: the text is {tokens.Length} tokens; a context of {steps} needs " +
                $"at least {(steps + 1) * 10} (with a 10% held-out split)");
        if (documentEnd is int end)
        {
            starts = Enumerable.Range(0, train.Length - steps).Where(p => p == 0 || train[p - 1] == end).ToArray();
            if (starts.Length < 2)
                throw new ArgumentException("pretrain: --align-docs needs documents separated by <|endoftext|> in " +
                    "the text");
        }
    }

    /// <summary>How many positions a training window may start at.</summary>
    public int WindowStarts => starts?.Length ?? train.Length - steps;

    public LmBatch Sample(Rng rng, int batch)
    {
        var x = new int[batch * steps];
        var y = new int[batch * steps];
        for (int b = 0; b < batch; b++)
        {
            int start = starts is null ? rng.Next(train.Length - steps) : starts[rng.Next(starts.Length)];
            Array.Copy(train, start, x, b * steps, steps);
            Array.Copy(train, start + 1, y, b * steps, steps);
        }
        return new LmBatch(x, y, batch, steps);
    }

    public IReadOnlyList<LmBatch> Eval(int batch, int maxBatches)
    {
        int windows = (val.Length - 1) / steps;
        int count = Math.Clamp(windows / batch, 1, maxBatches);
        var result = new List<LmBatch>();
        for (int i = 0; i < count; i++)
        {
            var x = new int[batch * steps];
            var y = new int[batch * steps];
            for (int b = 0; b < batch; b++)
            {
                int start = (int)((long)(i * batch + b) * (val.Length - steps - 1) / Math.Max(1, count * batch - 1));
                Array.Copy(val, start, x, b * steps, steps);
                Array.Copy(val, start + 1, y, b * steps, steps);
            }
            result.Add(new LmBatch(x, y, batch, steps));
        }
        return result;
    }
}

/// <summary>
/// Supervised fine-tuning on prompt/completion pairs: the sequence is prompt + completion + EOS and
/// only completion tokens (and the EOS) carry loss, as TRL's completion-only loss does. Batches are
/// right-padded to their longest sequence; sequences longer than the context are cut at its end.
/// </summary>
public sealed class SftData : ILmData
{
    readonly List<(int[] Prompt, int[] Completion)> train, val;
    readonly ITokenizer tokenizer;
    readonly int context;

    public int Truncated { get; }
    public int Count => train.Count + val.Count;

    /// <summary>prompt ids and completion ids + EOS.</summary>
    public static (int[] Prompt, int[] Completion) Encode(ITokenizer tokenizer, string prompt, string completion) =>
        (tokenizer.Encode(prompt), [.. tokenizer.Encode(completion), tokenizer.EosId]);

    public SftData(IEnumerable<(string Prompt, string Completion)> pairs, ITokenizer tokenizer, int context, double valFraction = 0.1)
    {
        this.tokenizer = tokenizer;
        this.context = context;
        var all = pairs.Select(p => Encode(tokenizer, p.Prompt, p.Completion)).ToList();
        if (all.Count < 2) throw new ArgumentException($"sft: need at least 2 examples, got {all.Count}");
        foreach (var (p, _) in all)
            if (p.Length >= context)
                throw new ArgumentException($"sft: a prompt of {p.Length} tokens leaves no room for its completion " +
                    $"in a context of {context}");
        Truncated = all.Count(e => e.Item1.Length + e.Item2.Length > context + 1);
        int nVal = Math.Max(1, (int)(all.Count * valFraction));
        train = all[..^nVal];
        val = all[^nVal..];
    }

    public static IEnumerable<(string, string)> ReadJsonl(string path) =>
        Jsonl.Read(path).Select(r => (Jsonl.Field(r.Row, "prompt", path, r.Line), Jsonl.Field(r.Row, "completion", path, r.Line)));

    public LmBatch Sample(Rng rng, int batch) => Build(Enumerable.Range(0, batch).Select(_ => train[rng.Next(train.Count)]).ToList());

    public IReadOnlyList<LmBatch> Eval(int batch, int maxBatches) =>
        val.Chunk(batch).Take(maxBatches).Select(c => Build(c.ToList())).ToList();

    LmBatch Build(IReadOnlyList<(int[] Prompt, int[] Completion)> examples) => Build(examples, tokenizer.PadId, context);

    /// <summary>inputs = seq[0..T−1], targets = seq[1..T] with prompt targets and padding set to −1.</summary>
    public static LmBatch Build(IReadOnlyList<(int[] Prompt, int[] Completion)> examples, int padId, int context)
    {
        int steps = Math.Min(context, examples.Max(e => e.Prompt.Length + e.Completion.Length) - 1);
        int B = examples.Count;
        var x = new int[B * steps];
        var y = new int[B * steps];
        Array.Fill(x, padId);
        Array.Fill(y, -1);
        for (int b = 0; b < B; b++)
        {
            var (prompt, completion) = examples[b];
            int[] seq = [.. prompt, .. completion];
            int n = Math.Min(steps, seq.Length - 1);
            for (int t = 0; t < n; t++)
            {
                x[b * steps + t] = seq[t];
                if (t + 1 >= prompt.Length) y[b * steps + t] = seq[t + 1];
            }
        }
        return new LmBatch(x, y, B, steps);
    }
}
