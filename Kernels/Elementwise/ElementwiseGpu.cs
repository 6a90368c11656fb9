using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.Elementwise;

/// <summary>
/// ILGPU kernels for the elementwise ops (ElementwiseCpu is their reference): grid-stride loops,
/// one thread per element on a GPU, a few long loops on the CPU accelerator.
/// </summary>
public static class ElementwiseGpu
{
    static void FillKernel(Index1D i, ArrayView<float> x, float value, int n, int stride)
    {
        for (int j = i; j < n; j += stride) x[j] = value;
    }

    static void AddKernel(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, int n, int stride)
    {
        for (int j = i; j < n; j += stride) y[j] = a[j] + b[j];
    }

    static void MulKernel(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, int n, int stride)
    {
        for (int j = i; j < n; j += stride) y[j] = a[j] * b[j];
    }

    /// <summary>da += dout·b (when hasA), db += dout·a (when hasB).</summary>
    static void MulBackwardKernel(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> dout,
        ArrayView<float> da, ArrayView<float> db, int hasA, int hasB, int n, int stride)
    {
        for (int j = i; j < n; j += stride)
        {
            if (hasA != 0) da[j] += dout[j] * b[j];
            if (hasB != 0) db[j] += dout[j] * a[j];
        }
    }

    static void ScaleKernel(Index1D i, ArrayView<float> x, float alpha, ArrayView<float> y, int n, int stride)
    {
        for (int j = i; j < n; j += stride) y[j] = alpha * x[j];
    }

    static void AxpyKernel(Index1D i, float alpha, ArrayView<float> x, ArrayView<float> y, int n, int stride)
    {
        for (int j = i; j < n; j += stride) y[j] += alpha * x[j];
    }

    static void BiasAddKernel(Index1D i, ArrayView<float> x, ArrayView<float> bias, ArrayView<float> y, int n, int cols, int stride)
    {
        for (int j = i; j < n; j += stride) y[j] = x[j] + bias[j % cols];
    }

    /// <summary>dbias[c] += Σ_r dout[r, c]: one thread per column, rows summed in order (deterministic).</summary>
    static void ColumnSumKernel(Index1D c, ArrayView<float> dout, ArrayView<float> dbias, int rows, int cols)
    {
        float s = 0;
        for (int r = 0; r < rows; r++) s += dout[r * cols + c];
        dbias[c] += s;
    }

    // V = ArrayView<float>: the launch wrappers below name kernel signatures with it.
    public static void Fill(LaunchContext k, ArrayView<float> x, float value)
    {
        int n = (int)x.Length, t = k.Threads(n);
        if (n > 0) k.Auto<ArrayView<float>, float, int, int>(FillKernel)(t, x, value, n, t);
    }

    public static void Add(LaunchContext k, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => Binary(k, AddKernel, a, b, y);
    public static void Mul(LaunchContext k, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => Binary(k, MulKernel, a, b, y);

    static void Binary(LaunchContext k, Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int> kernel,
        ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        int n = (int)a.Length, t = k.Threads(n);
        if (n > 0) k.Auto(kernel)(t, a, b, y, n, t);
    }

    public static void MulBackward(LaunchContext k, ArrayView<float> a, ArrayView<float> b, ArrayView<float> dout,
        ArrayView<float>? da, ArrayView<float>? db)
    {
        int n = (int)a.Length, t = k.Threads(n);
        if (n > 0)
            k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int,
                int, int>(MulBackwardKernel)(
                t, a, b, dout, da ?? a, db ?? a, da is null ? 0 : 1, db is null ? 0 : 1, n, t);
    }

    public static void Scale(LaunchContext k, ArrayView<float> x, float alpha, ArrayView<float> y)
    {
        int n = (int)x.Length, t = k.Threads(n);
        if (n > 0) k.Auto<ArrayView<float>, float, ArrayView<float>, int, int>(ScaleKernel)(t, x, alpha, y, n, t);
    }

    public static void Axpy(LaunchContext k, float alpha, ArrayView<float> x, ArrayView<float> y)
    {
        int n = (int)x.Length, t = k.Threads(n);
        if (n > 0) k.Auto<float, ArrayView<float>, ArrayView<float>, int, int>(AxpyKernel)(t, alpha, x, y, n, t);
    }

    public static void BiasAdd(LaunchContext k, ArrayView<float> x, ArrayView<float> bias, ArrayView<float> y, int rows, int cols)
    {
        int n = rows * cols, t = k.Threads(n);
        if (n > 0) k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(BiasAddKernel)(t, x, bias, y, n, cols, t);
    }

    /// <summary>dcol[c] += Σ_r dout[r, c].</summary>
    public static void ColumnSum(LaunchContext k, ArrayView<float> dout, ArrayView<float> dcol, int rows, int cols)
    {
        if (cols > 0) k.Auto<ArrayView<float>, ArrayView<float>, int, int>(ColumnSumKernel)(cols, dout, dcol, rows, cols);
    }
}
