namespace Engine.Autograd;

/// <summary>Elementwise ops and activations.</summary>
public static partial class Ops
{
    public static Tensor Add(Tensor a, Tensor b)
    {
        SameShape("add", a, b);
        var be = a.Backend;
        var y = New(a, a.Size);
        be.Add(a.Data, b.Data, y);
        return Tensor.Result(y, a.Shape, "add", [a, b], self => () =>
        {
            if (a.RequiresGrad) be.Axpy(1f, self.Grad!.Data, a.GradBuffer());
            if (b.RequiresGrad) be.Axpy(1f, self.Grad!.Data, b.GradBuffer());
        });
    }

    public static Tensor Mul(Tensor a, Tensor b)
    {
        SameShape("mul", a, b);
        var be = a.Backend;
        var y = New(a, a.Size);
        be.Mul(a.Data, b.Data, y);
        return Tensor.Result(y, a.Shape, "mul", [a, b], self => () =>
            be.MulBackward(a.Data, b.Data, self.Grad!.Data, a.RequiresGrad ? a.GradBuffer() : null,
                b.RequiresGrad ? b.GradBuffer() : null));
    }

    public static Tensor Scale(Tensor x, float alpha)
    {
        var be = x.Backend;
        var y = New(x, x.Size);
        be.Scale(x.Data, alpha, y);
        return Tensor.Result(y, x.Shape, "scale", [x], self => () => be.Axpy(alpha, self.Grad!.Data, x.GradBuffer()));
    }

    /// <summary>x + bias over the last axis: x [..., C], bias [C].</summary>
    public static Tensor AddBias(Tensor x, Tensor bias)
    {
        SameBackend("bias_add", x, bias);
        if (bias.Shape.Length != 1 || bias.Shape[0] != Cols(x))
            throw new Kernels.ShapeException("bias_add", "bias", $"[{Cols(x)}]", S(bias.Shape));
        var be = x.Backend;
        int rows = RowCount(x), cols = Cols(x);
        var y = New(x, x.Size);
        be.BiasAdd(x.Data, bias.Data, y, rows, cols);
        return Tensor.Result(y, x.Shape, "bias_add", [x, bias], self => () =>
        {
            if (x.RequiresGrad) be.Axpy(1f, self.Grad!.Data, x.GradBuffer());
            if (bias.RequiresGrad) be.BiasBackward(self.Grad!.Data, bias.GradBuffer(), rows, cols);
        });
    }

    /// <summary>GELU, tanh approximation (GPT-2).</summary>
    public static Tensor Gelu(Tensor x)
    {
        var be = x.Backend;
        var y = New(x, x.Size);
        be.Gelu(x.Data, y);
        return Tensor.Result(y, x.Shape, "gelu", [x], self => () => be.GeluBackward(x.Data, self.Grad!.Data, x.GradBuffer()));
    }

    public static Tensor Silu(Tensor x)
    {
        var be = x.Backend;
        var y = New(x, x.Size);
        be.Silu(x.Data, y);
        return Tensor.Result(y, x.Shape, "silu", [x], self => () => be.SiluBackward(x.Data, self.Grad!.Data, x.GradBuffer()));
    }

    /// <summary>silu(gate) ⊙ up, the Llama MLP's gate.</summary>
    public static Tensor SwiGlu(Tensor gate, Tensor up)
    {
        SameShape("swiglu", gate, up, "up");
        var be = gate.Backend;
        var y = New(gate, gate.Size);
        be.SwiGlu(gate.Data, up.Data, y);
        return Tensor.Result(y, gate.Shape, "swiglu", [gate, up], self => () =>
        {
            // The primitive writes both gradients; route a discarded one to a scratch buffer.
            var dgate = gate.RequiresGrad ? gate.GradBuffer() : be.Allocate(gate.Size);
            var dup = up.RequiresGrad ? up.GradBuffer() : be.Allocate(up.Size);
            be.SwiGluBackward(gate.Data, up.Data, self.Grad!.Data, dgate, dup);
        });
    }
}
