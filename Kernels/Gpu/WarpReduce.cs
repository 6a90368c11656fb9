using ILGPU;
using ILGPU.Algorithms;

namespace Engine.Kernels.Gpu;

/// <summary>Warp-wide reductions with shuffles, the building block of the one-warp-per-row kernels.</summary>
public static class WarpReduce
{
    /// <summary>The sum over the warp, returned to every lane.</summary>
    public static float Sum(float v)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2) v += Warp.ShuffleDown(v, offset);
        return Warp.Shuffle(v, 0);
    }

    /// <summary>The maximum over the warp, returned to every lane.</summary>
    public static float Max(float v)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2)
        {
            float o = Warp.ShuffleDown(v, offset);
            v = o > v ? o : v;
        }
        return Warp.Shuffle(v, 0);
    }

    /// <summary>
    /// Folds one value into a running (max, Σ exp(x − max)) pair — the online softmax of Milakov &amp; Gimelshein —
    /// so a row's max and normaliser take one pass; −∞ entries (masked) contribute nothing.
    /// </summary>
    public static void Fold(float x, ref float m, ref float s)
    {
        if (x == float.NegativeInfinity) return;
        if (x > m)
        {
            s = s * XMath.Exp(m - x) + 1f;           // exp(−∞) = 0 for the first finite value
            m = x;
        }
        else s += XMath.Exp(x - m);
    }

    /// <summary>Combines every lane's (max, Σ exp) pair; every lane gets the row's pair.</summary>
    public static void Combine(ref float m, ref float s)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2)
        {
            float mo = Warp.ShuffleDown(m, offset), so = Warp.ShuffleDown(s, offset);
            float mn = mo > m ? mo : m;
            s = (m == float.NegativeInfinity ? 0f : s * XMath.Exp(m - mn)) +
                (mo == float.NegativeInfinity ? 0f : so * XMath.Exp(mo - mn));
            m = mn;
        }
        m = Warp.Shuffle(m, 0);
        s = Warp.Shuffle(s, 0);
    }

    /// <summary>Several warps per group, one row each: groups of up to 8 warps keep a multiprocessor full (a group
    /// of one warp caps it at half its threads).</summary>
    public static KernelConfig RowsPerWarp(LaunchContext k, int rows)
    {
        int warps = Math.Max(1, Math.Min(8, k.MaxGroup / k.WarpSize));
        return new KernelConfig((rows + warps - 1) / warps, warps * k.WarpSize);
    }

    /// <summary>The row this warp owns under <see cref="RowsPerWarp"/>.</summary>
    public static int Row => Grid.IdxX * (Group.DimX / Warp.WarpSize) + Warp.WarpIdx;
}
