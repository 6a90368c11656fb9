using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.CrossEntropy;

/// <summary>
/// Cross-entropy with its gradient, version 2: one warp per row with up to 8 rows per group, and the log-sum-exp in
/// one pass over the logits (online softmax), then one pass that writes dlogits — two passes over a 50,257-wide row
/// instead of three. The host side (targets in, the mean loss out) is version 1's.
/// </summary>
public static class CrossEntropyOnlineGpu
{
    static void Kernel(ArrayView<float> logits, ArrayView<int> targets, ArrayView<float> dlogits, ArrayView<float> losses,
        int rows, int vocab, int ignoreIndex, float gradScale, int writeGrad)
    {
        int r = WarpReduce.Row, lane = Warp.LaneIdx;
        if (r >= rows) return;
        long o = (long)r * vocab;
        int target = targets[r];
        if (target == ignoreIndex)
        {
            CrossEntropyGpu.Ignored(dlogits, losses, o, r, lane, Warp.WarpSize, vocab, writeGrad);
            return;
        }
        float m = float.NegativeInfinity, s = 0;
        for (int c = lane; c < vocab; c += Warp.WarpSize) WarpReduce.Fold(logits[o + c], ref m, ref s);
        WarpReduce.Combine(ref m, ref s);
        CrossEntropyGpu.Finish(logits, dlogits, losses, o, r, lane, Warp.WarpSize, vocab, target, m + XMath.Log(s), gradScale,
            writeGrad);
    }

    public static float Forward(LaunchContext k, ArrayView<float> logits, int[] targets, ArrayView<float>? dlogits,
        int rows, int vocab, int ignoreIndex, float scale) =>
        CrossEntropyGpu.Run(k, logits, targets, dlogits, rows, vocab, ignoreIndex, scale,
            (t, d, losses, gradScale, writeGrad) =>
                k.Grouped<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, int, float, int>(
                    Kernel)(WarpReduce.RowsPerWarp(k, rows), logits, t, d, losses, rows, vocab, ignoreIndex, gradScale,
                    writeGrad));
}
