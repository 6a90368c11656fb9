using Engine.Generation;

namespace Engine.Distributed;

/// <summary>
/// Sampling uniforms shared by the ranks of a data-parallel run so that together they draw what one process
/// would: at each decoding step one process takes a uniform for every drawing row of the whole batch, in row
/// order, and the rows are the ranks' rows in rank order. So each step the ranks exchange which of their rows
/// draw (one small all-gather), and every rank takes the uniforms of all of them from the shared generator,
/// keeping its own. A rank whose rows have finished keeps exchanging (drawing for the others) until all have:
/// the generator stays the same on every rank. Every rank gives the same number of rows.
/// </summary>
public sealed class SharedDraws(Communicator comm, Rng rng, int rows) : IRowDraws
{
    int step;

    public double[] Next(bool[] need)
    {
        var all = Exchange(need, done: false);
        var mine = new double[need.Length];
        for (int r = 0; r < comm.Size; r++)
            for (int i = 0; i < rows; i++)
                if (all[r * (rows + 1) + 1 + i] != 0)
                {
                    double u = rng.NextDouble();
                    if (r == comm.Rank) mine[i] = u;
                }
        return mine;
    }

    public void Finish()
    {
        while (true)
        {
            var all = Exchange(null, done: true);
            bool allDone = true;
            for (int r = 0; r < comm.Size; r++)
            {
                allDone &= all[r * (rows + 1)] != 0;
                for (int i = 0; i < rows; i++)
                    if (all[r * (rows + 1) + 1 + i] != 0) rng.NextDouble();      // another rank's row draws
            }
            if (allDone) return;
        }
    }

    /// <summary>[done, need...] of every rank, in rank order.</summary>
    int[] Exchange(bool[]? need, bool done)
    {
        if (need is not null && need.Length != rows)
            throw new ArgumentException($"sampling: {need.Length} rows on this rank, {rows} expected on every rank");
        var mine = new int[rows + 1];
        mine[0] = done ? 1 : 0;
        for (int i = 0; i < rows && need is not null; i++) mine[i + 1] = need[i] ? 1 : 0;
        return comm.AllGather(mine, $"the sampling exchange at decoding step {step++}");
    }
}
