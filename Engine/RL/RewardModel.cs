using Engine.Autograd;
using Engine.Data;
using Engine.Distributed;
using Engine.Model;
using Engine.Tasks;
using Engine.Tokenizers;
using Engine.Training;

namespace Engine.RL;

/// <summary>A preference pair in TRL's shape; <paramref name="Kind"/> names how the rejected response was made
/// (built-in pairs), for per-kind accuracy.</summary>
public sealed record Preference(string Prompt, string Chosen, string Rejected, string? Kind = null);

/// <summary>
/// A reward model: a transformer with a scalar head whose value at the last token of prompt + response
/// is the score. Trained with the Bradley–Terry loss −log σ(r(chosen) − r(rejected)).
/// </summary>
public static class RewardModel
{
    /// <summary>Scores of prompt+response texts (no grad), batched.</summary>
    public static float[] Score(Transformer rm, ITokenizer tokenizer, IReadOnlyList<(string Prompt, string Response)> items, int batch = 32)
    {
        using var _ = GradMode.Disable();
        var scores = new List<float>();
        foreach (var chunk in items.Chunk(batch))
        {
            var (ids, last, T) = Pack(rm, tokenizer, chunk.Select(c => c.Prompt + c.Response).ToList());
            var values = rm.Values(rm.Hidden(ids, chunk.Length, T)).ToArray();
            for (int i = 0; i < chunk.Length; i++) scores.Add(values[i * T + last[i]]);
        }
        return scores.ToArray();
    }

    /// <summary>Right-padded ids [N, T] and each row's last index (texts cut to the context from the left).</summary>
    static (int[] Ids, int[] Last, int T) Pack(Transformer rm, ITokenizer tokenizer, IReadOnlyList<string> texts)
    {
        var seqs = texts.Select(t => tokenizer.Encode(t)).Select(s => s.Length > rm.Config.MaxPositions
            ? s[^rm.Config.MaxPositions..] : s).ToList();
        if (seqs.Any(s => s.Length == 0)) throw new ArgumentException("reward model: an empty prompt + response");
        int T = seqs.Max(s => s.Length);
        var ids = new int[seqs.Count * T];
        Array.Fill(ids, tokenizer.PadId);
        for (int i = 0; i < seqs.Count; i++) seqs[i].CopyTo(ids, i * T);
        return (ids, seqs.Select(s => s.Length - 1).ToArray(), T);
    }

    /// <summary>One optimiser step on a batch of pairs; returns the loss and the pairwise accuracy.</summary>
    /// <param name="share">Data-parallel: this rank's share of the step's pairs (default: all of them, in one
    /// process).</param>
    public static (float Loss, float Accuracy) Step(Transformer rm, ITokenizer tokenizer, AdamW optimizer,
        IReadOnlyList<Preference> pairs, float lr, float clip, StepShare? share = null)
    {
        int P = pairs.Count;
        var texts = pairs.Select(p => p.Prompt + p.Chosen).Concat(pairs.Select(p => p.Prompt + p.Rejected)).ToList();
        var (ids, last, T) = Pack(rm, tokenizer, texts);
        optimizer.ZeroGrad();
        var values = rm.Values(rm.Hidden(ids, 2 * P, T));                        // [2P, T]
        var v = values.ToArray();
        var (loss, gc, gr, acc) = PpoMath.BradleyTerry(
            Enumerable.Range(0, P).Select(i => v[i * T + last[i]]).ToArray(),
            Enumerable.Range(0, P).Select(i => v[(P + i) * T + last[P + i]]).ToArray());
        var grad = new float[2 * P * T];
        float w = share?.Weight ?? 1f;
        for (int i = 0; i < P; i++) { grad[i * T + last[i]] = gc[i] * w; grad[(P + i) * T + last[P + i]] = gr[i] * w; }
        values.Backward(Tensor.FromArray(rm.Backend, grad, 2 * P, T));
        if (share is not null) (loss, acc) = share.Reduce(loss, acc);
        GradClip.ClipGlobalNorm(optimizer.Parameters, clip);
        optimizer.Update(lr);
        return (loss, acc);
    }

    /// <summary>Held-out loss and accuracy (no grad); pairs with a Kind also get their accuracy per kind.</summary>
    public static (float Loss, float Accuracy, SortedDictionary<string, float> ByKind) Evaluate(Transformer rm,
        ITokenizer tokenizer, IReadOnlyList<Preference> pairs) =>
        Evaluate(new ScalarRewardModel(rm, tokenizer), pairs);

    public static (float Loss, float Accuracy, SortedDictionary<string, float> ByKind) Evaluate(IRewardScorer rm,
        IReadOnlyList<Preference> pairs)
    {
        var chosen = rm.Score(pairs.Select(p => (p.Prompt, p.Chosen)).ToList());
        var rejected = rm.Score(pairs.Select(p => (p.Prompt, p.Rejected)).ToList());
        var (loss, _, _, acc) = PpoMath.BradleyTerry(chosen, rejected);
        var byKind = new SortedDictionary<string, float>();
        foreach (var g in Enumerable.Range(0, pairs.Count).Where(i => pairs[i].Kind is not null).GroupBy(i => pairs[i].Kind!))
            byKind[g.Key] = g.Count(i => chosen[i] > rejected[i]) / (float)g.Count();
        return (loss, acc, byKind);
    }

    /// <summary>
    /// Built-in preferences from a task: the worked solution (correct and concise) is chosen over a
    /// wrong answer (the reasoning kept, the final answer changed), consistent but wrong reasoning
    /// (another problem's worked solution), a rambling one (the reasoning repeated before the right
    /// answer), or a malformed one (tags missing — including the opening &lt;think&gt;, the shape a PPO
    /// policy found to game an RM trained without it).
    /// </summary>
    public static IReadOnlyList<Preference> FromTask(IReasoningTask task, string split, int n, int seed)
    {
        var rng = new Rng(seed * 31L + (split == "test" ? 7 : 3));
        var problems = task.Generate(split, n, seed);
        var prefs = new List<Preference>();
        foreach (var p in problems)
        {
            string chosen = p.Completion ?? $"<answer>{p.Answer}</answer>";
            string think = chosen.Contains("</think>") ? chosen[..(chosen.IndexOf("</think>", StringComparison.Ordinal) + 8)] : "";
            string body = think.Length > 0 ? think[7..^8] : "";
            var other = problems[rng.Next(problems.Count)];
            var (kind, rejected) = rng.Next(5) switch
            {
                0 => ("wrong-answer", $"{think}<answer>{WrongAnswer(p.Answer, rng)}</answer>"),
                1 when other.Answer != p.Answer && other.Completion is not null => ("other-problem", other.Completion),
                2 => ("rambling", $"<think>{body} {body} {body}</think><answer>{p.Answer}</answer>"),
                3 => ("malformed", rng.Next(2) == 0 ? $"{body}</think><answer>{p.Answer}</answer>" : $"{body} {p.Answer}"),
                _ => ("malformed", $"<think>{body}</think>{p.Answer}"),
            };
            if (rejected == chosen) (kind, rejected) = ("malformed", $"{body} {p.Answer}");
            prefs.Add(new Preference(p.Prompt, chosen, rejected, kind));
        }
        return prefs;
    }

    static string WrongAnswer(string answer, Rng rng)
    {
        if (!long.TryParse(answer, out long value)) return answer + "1";
        long delta = rng.Next(1, 20) * (rng.Next(2) == 0 ? 1 : -1);
        return (value + delta == value ? value + 1 : value + delta).ToString();
    }

    /// <summary>A reward-model checkpoint of either kind: implicit (a reward.json marker) or a scalar value head.</summary>
    public static IRewardScorer Load(string dir, Kernels.IBackend backend)
    {
        if (!Directory.Exists(dir)) throw new ArgumentException($"--reward-model {dir}: no such folder");
        if (ImplicitRewardModel.IsImplicit(dir)) return ImplicitRewardModel.Load(dir, backend);
        var (rm, tokenizer) = Engine.Checkpoints.Checkpoint.Load(dir, backend, "--reward-model");
        if (rm.ValueW is null)
            throw new ArgumentException($"--reward-model {dir}: the checkpoint has no value head and no " +
                $"{ImplicitRewardModel.MarkerFile} (train one with engine rm)");
        return new ScalarRewardModel(rm, tokenizer);
    }

    public static IReadOnlyList<Preference> ReadJsonl(string path) =>
        Jsonl.Read(path).Select(r => new Preference(Jsonl.Field(r.Row, "prompt", path, r.Line), Jsonl.Field(r.Row, "chosen", path, r.Line),
            Jsonl.Field(r.Row, "rejected", path, r.Line))).ToList();
}
