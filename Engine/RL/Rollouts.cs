using Engine.Autograd;
using Engine.Generation;
using Engine.Model;

namespace Engine.RL;

/// <summary>What GRPO and PPO share between sampling and the loss: the padded batch and the log-probs of its tokens.</summary>
public static class Rollouts
{
    /// <summary>
    /// Prompt + completion per row, right-padded to [M, T]: inputs = seq[0..T−1], targets = seq[1..T]
    /// (pad where the row is shorter), mask = 1 where the target is a completion token (0 for rows
    /// that drop(i) says to leave out, e.g. truncated completions).
    /// </summary>
    public static (int[] Inputs, int[] Targets, float[] Mask, int Steps) Pack(IReadOnlyList<int[]> prompts,
        IReadOnlyList<Completion> completions,
        int padId, Func<int, bool>? drop = null) => Pack(prompts, completions.Select(c => c.Ids).ToList(), padId, drop);

    /// <summary>The same from the responses' ids.</summary>
    public static (int[] Inputs, int[] Targets, float[] Mask, int Steps) Pack(IReadOnlyList<int[]> prompts, IReadOnlyList<int[]> responses,
        int padId, Func<int, bool>? drop = null)
    {
        int M = responses.Count;
        int T = Enumerable.Range(0, M).Max(i => prompts[i].Length + responses[i].Length) - 1;
        var inputs = new int[M * T];
        var targets = new int[M * T];
        var mask = new float[M * T];
        Array.Fill(inputs, padId);
        Array.Fill(targets, padId);
        for (int i = 0; i < M; i++)
        {
            int[] seq = [.. prompts[i], .. responses[i]];
            bool dropped = drop?.Invoke(i) ?? false;
            for (int t = 0; t < seq.Length - 1; t++)
            {
                inputs[i * T + t] = seq[t];
                targets[i * T + t] = seq[t + 1];
                if (t + 1 >= prompts[i].Length && !dropped) mask[i * T + t] = 1f;
            }
        }
        return (inputs, targets, mask, T);
    }

    /// <summary>log π(target | prefix) under softmax(logits / temperature) at every position, without grad (the fused
    /// kernel's logp output).</summary>
    public static float[] TokenLogp(Transformer model, int[] inputs, int[] targets, int batch, int steps, float temperature)
    {
        using var _ = GradMode.Disable();
        var logits = model.Forward(inputs, batch, steps);
        var zeros = new float[batch * steps];
        return FusedPolicy.Run(model.Backend, logits.Data, logits.Data, targets, zeros, zeros, zeros, null, batch, steps,
            model.Config.VocabSize, new FusedLossOptions(temperature)).Logp;
    }

    /// <summary>Rows [r·T, (r+1)·T) of x for each r in rows, concatenated (a mini-batch of a packed batch).</summary>
    public static T[] Gather<T>(T[] x, int[] rows, int steps) => rows.SelectMany(r => x[(r * steps)..((r + 1) * steps)]).ToArray();
}
