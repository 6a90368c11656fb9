using Engine.Kernels;

namespace Engine.Autograd;

/// <summary>Row-wise ops over the last axis: LayerNorm, RMSNorm, softmax.</summary>
public static partial class Ops
{
    public static Tensor LayerNorm(Tensor x, Tensor weight, Tensor bias, float eps = 1e-5f)
    {
        const string op = "layernorm";
        int rows = RowCount(x), cols = Cols(x);
        SameBackend(op, x, weight); SameBackend(op, x, bias);
        if (weight.Shape.Length != 1 || weight.Shape[0] != cols) throw new ShapeException(op, "weight", $"[{cols}]", S(weight.Shape));
        if (bias.Shape.Length != 1 || bias.Shape[0] != cols) throw new ShapeException(op, "bias", $"[{cols}]", S(bias.Shape));
        var be = x.Backend;
        var y = New(x, x.Size);
        var mean = New(x, rows);
        var rstd = New(x, rows);
        be.LayerNorm(x.Data, weight.Data, bias.Data, y, mean, rstd, rows, cols, eps);
        return Tensor.Result(y, x.Shape, op, [x, weight, bias], self => () =>
            be.LayerNormBackward(x.Data, weight.Data, mean, rstd, self.Grad!.Data,
                x.RequiresGrad ? x.GradBuffer() : New(x, x.Size),
                weight.RequiresGrad ? weight.GradBuffer() : New(x, cols),
                bias.RequiresGrad ? bias.GradBuffer() : New(x, cols), rows, cols));
    }

    public static Tensor RmsNorm(Tensor x, Tensor weight, float eps = 1e-6f)
    {
        const string op = "rmsnorm";
        int rows = RowCount(x), cols = Cols(x);
        SameBackend(op, x, weight);
        if (weight.Shape.Length != 1 || weight.Shape[0] != cols) throw new ShapeException(op, "weight", $"[{cols}]", S(weight.Shape));
        var be = x.Backend;
        var y = New(x, x.Size);
        var rstd = New(x, rows);
        be.RmsNorm(x.Data, weight.Data, y, rstd, rows, cols, eps);
        return Tensor.Result(y, x.Shape, op, [x, weight], self => () =>
            be.RmsNormBackward(x.Data, weight.Data, rstd, self.Grad!.Data,
                x.RequiresGrad ? x.GradBuffer() : New(x, x.Size),
                weight.RequiresGrad ? weight.GradBuffer() : New(x, cols), rows, cols));
    }

    public static Tensor Softmax(Tensor x)
    {
        int rows = RowCount(x), cols = Cols(x);
        if (cols == 0) throw new ShapeException("softmax", "x", "a non-empty last axis", S(x.Shape));
        var be = x.Backend;
        var y = New(x, x.Size);
        be.Softmax(x.Data, y, rows, cols);
        return Tensor.Result(y, x.Shape, "softmax", [x], self => () =>
            be.SoftmaxBackward(y, self.Grad!.Data, x.GradBuffer(), rows, cols));
    }
}
