using Engine.Generation;
using Engine.Model;
using Engine.Tokenizers;

namespace Engine.Distributed;

/// <summary>
/// The RL trainers' data-parallel stages. Every rank holds the step's whole batch (the same prompts, drawn from the
/// shared generator); the expensive passes are split by rows and their results gathered, so that what follows
/// (scores, advantages, metrics) is computed alike on every rank. In one process each is the plain call.
/// </summary>
public static class DataParallel
{
    /// <summary>
    /// groupSize completions of each prompt, in prompt order. Data-parallel, each rank samples the groups of its share
    /// of the prompts (a group never spans ranks), drawing from the shared sequence of uniforms, and the completions
    /// are gathered: every rank then holds what one process would have sampled.
    /// </summary>
    public static Completion[] Generate(Transformer model, ITokenizer tokenizer, IReadOnlyList<int[]> prompts,
        int groupSize, SamplingOptions sampling, Rng rng)
    {
        var rows = prompts.SelectMany(p => Enumerable.Repeat(p, groupSize)).ToList();
        if (Dist.World is not { Size: > 1 } world) return Generator.Generate(model, tokenizer, rows, sampling, rng);
        var (first, count) = Shard.Mine(prompts.Count);
        var mine = rows.GetRange(first * groupSize, count * groupSize);
        var local = Generator.Generate(model, tokenizer, mine, sampling, rng,
            draws: new SharedDraws(world, rng, mine.Count));
        return [.. RolloutExchange.AllGather(world, local, "the exchange of sampled completions")];
    }

    /// <summary>
    /// Per-row figures of M rows (stride values each): compute(first, count) gives those of rows [first, first+count).
    /// Data-parallel, each rank computes its contiguous share and the shares are gathered.
    /// </summary>
    public static float[] ByRows(int M, Func<int, int, float[]> compute)
    {
        if (Dist.World is not { Size: > 1 } world) return compute(0, M);
        var (first, count) = Shard.Mine(M);
        float[] mine = count == 0 ? [] : compute(first, count);
        return RolloutExchange.AllGather(world, mine, "the exchange of per-row figures");
    }

    /// <summary>Rows [first, first+count) of a packed [M, T] array (the array itself when that is all of it).</summary>
    public static T[] Rows<T>(T[] x, int first, int count, int steps) =>
        first == 0 && count * steps == x.Length ? x : x[(first * steps)..((first + count) * steps)];
}
