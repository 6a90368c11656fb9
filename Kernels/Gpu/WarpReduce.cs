using ILGPU;

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
}
