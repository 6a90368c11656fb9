using Engine.Kernels;

namespace Engine.Autograd;

/// <summary>
/// Differentiable ops on <see cref="Tensor"/>s: each function computes its forward on the
/// backend and hands <see cref="Tensor.Result"/> a closure that pushes the output's gradient into
/// its inputs' (the matching *Backward primitive, which adds). Shapes are checked here, in the
/// user's terms; the backend checks buffer sizes again.
/// This file: shape helpers, GEMM, linear, reshape, reductions. Ops.*.cs: the rest.
/// </summary>
public static partial class Ops
{
    static string S(int[] shape) => ShapeException.Format(shape);

    /// <summary>Rows of a tensor seen as [rows, last dim].</summary>
    static int RowCount(Tensor x) => x.Shape.Length == 0 ? 1 : x.Size / Math.Max(1, x.Shape[^1]);
    static int Cols(Tensor x) => x.Shape.Length == 0 ? 1 : x.Shape[^1];

    static void SameBackend(string op, Tensor a, Tensor b)
    {
        if (!ReferenceEquals(a.Backend, b.Backend))
            throw new ShapeException(op, "backend", $"both tensors on {a.Backend.Name}", $"one on {b.Backend.Name}");
    }

    static void SameShape(string op, Tensor a, Tensor b, string bName = "b")
    {
        SameBackend(op, a, b);
        if (!a.Shape.SequenceEqual(b.Shape)) throw new ShapeException(op, bName, S(a.Shape), S(b.Shape));
    }

    static void Rank(string op, string name, Tensor x, int rank, string layout)
    {
        if (x.Shape.Length != rank) throw new ShapeException(op, name, $"rank {rank} {layout}", S(x.Shape));
    }

    static void LastDim(string op, string name, Tensor x, int expected)
    {
        if (x.Shape.Length == 0 || x.Shape[^1] != expected)
            throw new ShapeException(op, name, $"last dimension {expected}", S(x.Shape));
    }

    static DeviceBuffer New(Tensor like, int size) => like.Backend.Allocate(size);

    // ---- GEMM ---------------------------------------------------------------------------------

    /// <summary>op(a)·op(b) of 2-D tensors: a is [M,K] (or [K,M] with transA), b [K,N] (or [N,K] with transB).</summary>
    public static Tensor MatMul(Tensor a, Tensor b, bool transA = false, bool transB = false)
    {
        const string op = "matmul";
        SameBackend(op, a, b);
        Rank(op, "a", a, 2, transA ? "[K, M]" : "[M, K]");
        Rank(op, "b", b, 2, transB ? "[N, K]" : "[K, N]");
        int m = transA ? a.Shape[1] : a.Shape[0], k = transA ? a.Shape[0] : a.Shape[1];
        int kb = transB ? b.Shape[1] : b.Shape[0], n = transB ? b.Shape[0] : b.Shape[1];
        if (k != kb)
            throw new ShapeException(op, "b",
                transB ? $"[N, {k}] (inner dims of a {S(a.Shape)})" : $"[{k}, N] (inner dims of a {S(a.Shape)})",
                S(b.Shape));
        var be = a.Backend;
        var c = New(a, m * n);
        be.MatMul(a.Data, b.Data, c, m, n, k, transA, transB);
        return Tensor.Result(c, [m, n], op, [a, b], self => () =>
        {
            var dc = self.Grad!.Data;
            if (a.RequiresGrad)
            {
                if (!transA) be.MatMul(dc, b.Data, a.GradBuffer(), m, k, n, false, !transB, accumulate: true);   // dA = dC·op(B)ᵀ
                else be.MatMul(b.Data, dc, a.GradBuffer(), k, m, n, transB, true, accumulate: true);              // dA = op(B)·dCᵀ
            }
            if (b.RequiresGrad)
            {
                if (!transB) be.MatMul(a.Data, dc, b.GradBuffer(), k, n, m, !transA, false, accumulate: true);   // dB = op(A)ᵀ·dC
                else be.MatMul(dc, a.Data, b.GradBuffer(), n, k, m, true, transA, accumulate: true);              // dB = dCᵀ·op(A)
            }
        });
    }

    /// <summary>
    /// y = x·Wᵀ + b over the last axis, PyTorch's layout: x [..., in], weight [out, in], bias [out].
    /// Backward: dx = dy·W, dW += dyᵀ·x, db += Σ dy — the three GEMM layouts.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        const string op = "linear";
        SameBackend(op, x, weight);
        Rank(op, "weight", weight, 2, "[out, in]");
        int outF = weight.Shape[0], inF = weight.Shape[1];
        if (x.Shape.Length == 0 || x.Shape[^1] != inF)
            throw new ShapeException(op, "x", $"[..., {inF}] (weight is {S(weight.Shape)})", S(x.Shape));
        if (bias is not null)
        {
            SameBackend(op, x, bias);
            if (bias.Shape.Length != 1 || bias.Shape[0] != outF) throw new ShapeException(op, "bias", $"[{outF}]", S(bias.Shape));
        }
        int rows = RowCount(x);
        var be = x.Backend;
        var y = New(x, rows * outF);
        be.MatMul(x.Data, weight.Data, y, rows, outF, inF, false, true);
        if (bias is not null) be.BiasAdd(y, bias.Data, y, rows, outF);
        int[] shape = [.. x.Shape[..^1], outF];
        Tensor[] parents = bias is null ? [x, weight] : [x, weight, bias];
        return Tensor.Result(y, shape, op, parents, self => () =>
        {
            var dy = self.Grad!.Data;
            if (x.RequiresGrad) be.MatMul(dy, weight.Data, x.GradBuffer(), rows, inF, outF, false, false, accumulate: true);
            if (weight.RequiresGrad) be.MatMul(dy, x.Data, weight.GradBuffer(), outF, inF, rows, true, false, accumulate: true);
            if (bias is not null && bias.RequiresGrad) be.BiasBackward(dy, bias.GradBuffer(), rows, outF);
        });
    }

    // ---- views and reductions -----------------------------------------------------------------

    /// <summary>The same storage under a new shape with as many elements (-1 infers one dimension).</summary>
    public static Tensor Reshape(Tensor x, params int[] shape)
    {
        shape = (int[])shape.Clone();
        int infer = Array.IndexOf(shape, -1);
        if (infer >= 0)
        {
            long rest = 1;
            for (int i = 0; i < shape.Length; i++) if (i != infer) rest *= shape[i];
            if (rest > 0 && x.Size % rest == 0) shape[infer] = (int)(x.Size / rest);
        }
        long count = 1;
        foreach (int d in shape) count *= d;
        if (count != x.Size || shape.Any(d => d < 0))
            throw new ShapeException("reshape", "shape", $"{x.Size} elements (from {S(x.Shape)})", S(shape));
        var be = x.Backend;
        return Tensor.Result(x.Data, shape, "reshape", [x], self => () => be.Axpy(1f, self.Grad!.Data, x.GradBuffer()));
    }

    /// <summary>Σ of all elements, a [1] tensor.</summary>
    public static Tensor Sum(Tensor x) => Reduce(x, "sum", 1f);

    /// <summary>Mean of all elements, a [1] tensor.</summary>
    public static Tensor Mean(Tensor x)
    {
        if (x.Size == 0) throw new ShapeException("mean", "x", "at least one element", S(x.Shape));
        return Reduce(x, "mean", 1f / x.Size);
    }

    static Tensor Reduce(Tensor x, string op, float scale)
    {
        var be = x.Backend;
        var y = New(x, 1);
        be.Sum(x.Data, y);
        if (scale != 1f) be.Scale(y, scale, y);
        return Tensor.Result(y, [1], op, [x], self => () => be.SumBackward(self.Grad!.Data, x.GradBuffer(), scale));
    }
}
