using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.CrossEntropy;

/// <summary>
/// Fused log-softmax + cross-entropy, one warp per row of logits [N, V] (CrossEntropyCpu is the
/// reference): max and Σexp by warp reductions, the row's loss into losses[r], and — when asked —
/// dlogits = gradScale·(softmax − onehot) written straight from the logits in the same pass.
/// </summary>
public static class CrossEntropyGpu
{
    static void Kernel(ArrayView<float> logits, ArrayView<int> targets, ArrayView<float> dlogits, ArrayView<float> losses,
        int vocab, int ignoreIndex, float gradScale, int writeGrad)
    {
        int r = Grid.IdxX, lane = Group.IdxX;
        long o = (long)r * vocab;
        int target = targets[r];
        if (target == ignoreIndex)
        {
            Ignored(dlogits, losses, o, r, lane, Group.DimX, vocab, writeGrad);
            return;
        }
        float m = float.NegativeInfinity;
        for (int c = lane; c < vocab; c += Group.DimX) m = XMath.Max(m, logits[o + c]);
        m = WarpReduce.Max(m);
        float s = 0;
        for (int c = lane; c < vocab; c += Group.DimX) s += XMath.Exp(logits[o + c] - m);
        float lse = m + XMath.Log(WarpReduce.Sum(s));
        Finish(logits, dlogits, losses, o, r, lane, Group.DimX, vocab, target, lse, gradScale, writeGrad);
    }

    /// <summary>An ignored row: loss 0 and, when written, a zero gradient. One warp per row, lanes apart.</summary>
    internal static void Ignored(ArrayView<float> dlogits, ArrayView<float> losses, long o, int r, int lane, int lanes,
        int vocab, int writeGrad)
    {
        if (writeGrad != 0) for (int c = lane; c < vocab; c += lanes) dlogits[o + c] = 0f;
        if (lane == 0) losses[r] = 0f;
    }

    /// <summary>A row once its log-sum-exp is known: the loss lse − logit[target] and, when written,
    /// dlogits = (softmax − onehot)·gradScale. Every version ends its rows here.</summary>
    internal static void Finish(ArrayView<float> logits, ArrayView<float> dlogits, ArrayView<float> losses, long o, int r,
        int lane, int lanes, int vocab, int target, float lse, float gradScale, int writeGrad)
    {
        float picked = logits[o + target];
        Warp.Barrier();   // every lane has read logits[target] before any lane may overwrite it (dlogits may alias logits)
        if (writeGrad != 0)
            for (int c = lane; c < vocab; c += lanes)
                dlogits[o + c] = XMath.Exp(logits[o + c] - lse) * gradScale - (c == target ? gradScale : 0f);
        if (lane == 0) losses[r] = lse - picked;
    }

    public static float Forward(LaunchContext k, ArrayView<float> logits, int[] targets, ArrayView<float>? dlogits,
        int rows, int vocab, int ignoreIndex, float scale) =>
        Run(k, logits, targets, dlogits, rows, vocab, ignoreIndex, scale, (t, d, losses, gradScale, writeGrad) =>
            k.Grouped<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, float, int>(Kernel)(
                new KernelConfig(rows, k.WarpSize), logits, t, d, losses, vocab, ignoreIndex, gradScale, writeGrad));

    /// <summary>How a version launches its row kernel: targets, dlogits (logits when not written), per-row losses,
    /// the gradient's scale, and whether to write it.</summary>
    internal delegate void RowLaunch(ArrayView<int> targets, ArrayView<float> dlogits, ArrayView<float> losses,
        float gradScale, int writeGrad);

    /// <summary>The host side every version shares: targets up, the row kernel, the per-row losses summed on the
    /// device in a fixed order (deterministic), one scalar down.</summary>
    internal static float Run(LaunchContext k, ArrayView<float> logits, int[] targets, ArrayView<float>? dlogits,
        int rows, int vocab, int ignoreIndex, float scale, RowLaunch launch)
    {
        if (rows == 0) return 0f;
        int count = targets.Count(t => t != ignoreIndex);
        using var t = k.Upload(targets);
        using var losses = k.Scratch(rows);
        float gradScale = count == 0 ? 0f : scale / count;
        launch(t.View, dlogits ?? logits, losses.View, gradScale, dlogits is null ? 0 : 1);
        if (count == 0) return 0f;
        using var total = k.Scratch(1);
        Reduce.ReduceGpu.Sum(k, losses.View, total.View);
        return total.ToArray()[0] / count;
    }
}
