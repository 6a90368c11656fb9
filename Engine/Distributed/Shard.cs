using Engine.Autograd;
using Engine.Data;

namespace Engine.Distributed;

/// <summary>
/// How a step's global batch is cut between ranks: every rank draws the whole batch from the shared seeded
/// generator (cheap: indices and token ids) and keeps a contiguous share, so the data and its order are those of
/// one process with the whole batch, and the generator stays in step on every rank.
/// </summary>
public static class Shard
{
    /// <summary>The rank's contiguous share of n items: the first n mod size ranks take one more.</summary>
    public static (int Start, int Count) Range(int n, int rank, int size)
    {
        int q = n / size, r = n % size;
        return (rank * q + Math.Min(rank, r), q + (rank < r ? 1 : 0));
    }

    /// <summary>The current rank's share of n items.</summary>
    public static (int Start, int Count) Mine(int n) => Range(n, Dist.Rank, Dist.Size);

    /// <summary>Rows [start, start + count) of a batch, at the batch's length (padding columns included).</summary>
    public static LmBatch Rows(LmBatch b, int start, int count)
    {
        int T = b.Steps;
        return new LmBatch(b.Inputs[(start * T)..((start + count) * T)], b.Targets[(start * T)..((start + count) * T)],
            count, T);
    }

    /// <summary>Rank 0's parameters on every rank: a run that starts from a fresh model or a checkpoint starts every
    /// rank from the same bits even if a rank's files or initialisation differ. One broadcast of a flat copy.</summary>
    public static void BroadcastParameters(IEnumerable<Tensor> parameters)
    {
        if (Dist.World is not { Size: > 1 } world) return;
        var list = parameters.ToList();
        var flat = new float[checked(list.Sum(p => p.Size))];
        int at = 0;
        foreach (var p in list) { p.Data.CopyTo(flat.AsSpan(at, p.Size)); at += p.Size; }
        world.Broadcast(flat, "the broadcast of rank 0's initial weights");
        at = 0;
        foreach (var p in list) { p.Data.CopyFrom(flat.AsSpan(at, p.Size)); at += p.Size; }
    }

    /// <summary>Whether any rank asks for it (Ctrl-C seen by some ranks only): every rank then acts alike.</summary>
    public static bool AnyRank(bool mine, string what)
    {
        if (Dist.World is not { Size: > 1 } world) return mine;
        Span<int> flag = [mine ? 1 : 0];
        world.AllReduceMax(flag, what);
        return flag[0] != 0;
    }
}
