using System.Numerics.Tensors;

namespace Engine.Kernels.Elementwise;

/// <summary>Add, multiply, scale and the bias of a linear layer, with their backwards (all += into grads).</summary>
public static class ElementwiseCpu
{
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> output) => TensorPrimitives.Add(a, b, output);

    public static void Mul(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> output) => TensorPrimitives.Multiply(a, b, output);

    /// <summary>da += dout ⊙ b;  db += dout ⊙ a.</summary>
    public static void MulBackward(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> dout, Span<float> da, Span<float> db)
    {
        if (!da.IsEmpty) TensorPrimitives.FusedMultiplyAdd(dout, b, da, da);
        if (!db.IsEmpty) TensorPrimitives.FusedMultiplyAdd(dout, a, db, db);
    }

    public static void Scale(ReadOnlySpan<float> x, float alpha, Span<float> output) => TensorPrimitives.Multiply(x, alpha, output);

    /// <summary>y += α·x.</summary>
    public static void Axpy(float alpha, ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.FusedMultiplyAdd(x, alpha, y, y);

    /// <summary>out[r, :] = x[r, :] + bias.  x, out [R, C]; bias [C].</summary>
    public static void BiasAdd(ReadOnlySpan<float> x, ReadOnlySpan<float> bias, Span<float> output, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            TensorPrimitives.Add(x.Slice(r * cols, cols), bias, output.Slice(r * cols, cols));
    }

    /// <summary>dbias += Σ_r dout[r, :].</summary>
    public static void BiasBackward(ReadOnlySpan<float> dout, Span<float> dbias, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
            TensorPrimitives.Add(dbias, dout.Slice(r * cols, cols), dbias);
    }
}
