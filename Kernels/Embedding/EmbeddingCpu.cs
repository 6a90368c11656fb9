namespace Engine.Kernels.Embedding;

/// <summary>Row lookup out[n] = table[ids[n]]; its backward scatter-adds dout rows into dtable.</summary>
public static class EmbeddingCpu
{
    public static void Forward(int[] ids, float[] table, float[] output, int cols)
    {
        for (int n = 0; n < ids.Length; n++)
            table.AsSpan(ids[n] * cols, cols).CopyTo(output.AsSpan(n * cols, cols));
    }

    /// <summary>dtable[ids[n]] += dout[n]. Serial: the same id may appear many times in a batch.</summary>
    public static void Backward(int[] ids, float[] dout, float[] dtable, int cols)
    {
        for (int n = 0; n < ids.Length; n++)
        {
            var src = dout.AsSpan(n * cols, cols);
            var dst = dtable.AsSpan(ids[n] * cols, cols);
            System.Numerics.Tensors.TensorPrimitives.Add(dst, src, dst);
        }
    }
}
