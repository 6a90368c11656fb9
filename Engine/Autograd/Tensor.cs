using Engine.Kernels;

namespace Engine.Autograd;

/// <summary>
/// A float32, row-major, contiguous tensor with an explicit shape. Its storage is a
/// <see cref="DeviceBuffer"/> of one backend; every op runs on that backend.
///
/// Reverse-mode autograd in the spirit of micrograd, on tensors: an op that reads a tensor which
/// requires grad records itself on the result (its parents and a closure that pushes the result's
/// gradient into theirs). <see cref="Backward"/> orders the recorded graph topologically and runs
/// those closures in reverse; gradients accumulate (+=), so a tensor used twice gets both parts.
/// </summary>
public sealed class Tensor
{
    public int[] Shape { get; }
    public int Size { get; }
    public DeviceBuffer Data { get; private set; }
    /// <summary>The backend ops on this tensor run on (a decorator such as TimingBackend wraps the buffer's own).</summary>
    public IBackend Backend { get; }

    /// <summary>True for parameters and for every result computed from one while grad is enabled.</summary>
    public bool RequiresGrad { get; }

    /// <summary>∂loss/∂this after <see cref="Backward"/>; allocated on first use, same shape.</summary>
    public Tensor? Grad { get; private set; }

    /// <summary>The op that produced this tensor ("leaf" for inputs and parameters).</summary>
    public string Op { get; }
    public string? Name { get; set; }

    readonly Tensor[] parents;
    readonly Action? backward;

    Tensor(IBackend backend, DeviceBuffer data, int[] shape, bool requiresGrad, string op, Tensor[] parents, Action? backward)
    {
        Backend = backend;
        long size = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ShapeException(op, "shape", "non-negative dimensions", ShapeException.Format(shape));
            size *= d;
        }
        if (size != data.Length)
            throw new ShapeException(op, "storage", $"{size} elements for shape {ShapeException.Format(shape)}", $"{data.Length} elements");
        Data = data;
        Shape = shape;
        Size = (int)size;
        RequiresGrad = requiresGrad;
        Op = op;
        this.parents = parents;
        this.backward = backward;
    }

    // ---- construction -------------------------------------------------------------------------

    public static Tensor Zeros(IBackend backend, params int[] shape) =>
        new(backend, backend.Allocate(Count(shape)), (int[])shape.Clone(), false, "leaf", [], null);

    public static Tensor FromArray(IBackend backend, float[] values, params int[] shape)
    {
        var t = Zeros(backend, shape);
        if (values.Length != t.Size)
            throw new ShapeException("from_array", "values",
                $"{t.Size} values for shape {ShapeException.Format(shape)}", $"{values.Length} values");
        t.Data.CopyFrom(values);
        return t;
    }

    /// <summary>A constant view of an existing buffer of the backend (no copy), e.g. a gradient a kernel wrote.</summary>
    public static Tensor Wrap(IBackend backend, DeviceBuffer data, params int[] shape) =>
        new(backend, data, (int[])shape.Clone(), false, "leaf", [], null);

    /// <summary>A trainable leaf: requires grad; its values are the given array.</summary>
    public static Tensor Parameter(IBackend backend, float[] values, params int[] shape)
    {
        var t = new Tensor(backend, backend.Allocate(Count(shape)), (int[])shape.Clone(), true, "leaf", [], null);
        if (values.Length != t.Size)
            throw new ShapeException("parameter", "values",
                $"{t.Size} values for shape {ShapeException.Format(shape)}", $"{values.Length} values");
        t.Data.CopyFrom(values);
        return t;
    }

    /// <summary>
    /// The result of an op. It records its parents and backward closure only when grad is enabled
    /// and some parent requires grad; otherwise it is a plain tensor (inference costs no graph).
    /// </summary>
    internal static Tensor Result(DeviceBuffer data, int[] shape, string op, Tensor[] parents, Func<Tensor, Action> backward)
    {
        bool track = GradMode.Enabled && parents.Any(p => p.RequiresGrad);
        var backend = parents[0].Backend;
        if (!track) return new Tensor(backend, data, shape, false, op, [], null);
        Tensor? self = null;
        Action run = () => backward(self!)();
        self = new Tensor(backend, data, shape, true, op, parents, run);
        return self;
    }

    static int Count(int[] shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ShapeException("tensor", "shape", "non-negative dimensions", ShapeException.Format(shape));
            n *= d;
        }
        if (n > int.MaxValue) throw new ShapeException("tensor", "shape", "at most 2^31-1 elements", ShapeException.Format(shape));
        return (int)n;
    }

    // ---- reading ------------------------------------------------------------------------------

    public float[] ToArray() => Data.ToArray();

    /// <summary>The value of a one-element tensor.</summary>
    public float Item()
    {
        if (Size != 1) throw new ShapeException("item", "tensor", "one element", ShapeException.Format(Shape));
        return ToArray()[0];
    }


    public override string ToString() => $"Tensor{ShapeException.Format(Shape)} op={Op}{(RequiresGrad ? " requires_grad" : "")}";

    // ---- gradients ----------------------------------------------------------------------------

    /// <summary>Where a parameter's gradient lives once it has one (see <see cref="MoveTo"/>); null: allocated on use.</summary>
    (ContiguousGrads Group, int Index)? gradStorage;

    /// <summary>
    /// Moves a parameter into storage chosen by its owner (a slice of one allocation shared with the other
    /// parameters, so that one launch can update them all), with the zero-filled buffer its gradient will use.
    /// </summary>
    internal void MoveTo(DeviceBuffer data, ContiguousGrads grads, int index)
    {
        if (!RequiresGrad || Grad is not null || data.Length != Size || grads.Sizes[index] != Size)
            throw new InvalidOperationException($"move: {this} is not a fresh parameter of {Size} elements");
        Backend.Copy(Data, data);
        var old = Data;
        Data = data;
        old.Dispose();
        gradStorage = (grads, index);
    }

    /// <summary>The gradient buffer, created zero-filled the first time an op adds into it.</summary>
    internal DeviceBuffer GradBuffer()
    {
        Grad ??= gradStorage is var (group, i) ? Wrap(Backend, group.Buffers[i], Shape) : Zeros(Backend, Shape);
        return Grad.Data;
    }

    /// <summary>
    /// Adds a gradient computed elsewhere; a tensor without one yet takes the buffer itself (no copy), as
    /// the fused policy loss hands over the dlogits it wrote in place — unless its gradient has a place of its own.
    /// </summary>
    internal void AddGrad(DeviceBuffer gradient)
    {
        if (Grad is null && gradStorage is null) Grad = Wrap(Backend, gradient, Shape);
        else Backend.Axpy(1f, gradient, GradBuffer());
    }

    public void ZeroGrad()
    {
        if (Grad is not null) Backend.Fill(Grad.Data, 0f);
    }

    /// <summary>
    /// Backpropagates from this tensor: seeds its gradient (1 for a scalar loss), then runs each
    /// recorded op's backward in reverse topological order. Leaves keep their gradients (summed
    /// over calls until <see cref="ZeroGrad"/>); intermediate results' gradients are rebuilt each call.
    /// </summary>
    public void Backward(Tensor? gradient = null)
    {
        if (!RequiresGrad)
            throw new InvalidOperationException($"backward: {this} does not require grad (no parameter reaches it, " +
                $"or it was computed under NoGrad)");
        if (gradient is null && Size != 1)
            throw new ShapeException("backward", "tensor", "a one-element loss (or pass a gradient)", ShapeException.Format(Shape));
        if (gradient is not null && !gradient.Shape.SequenceEqual(Shape))
            throw new ShapeException("backward", "gradient", ShapeException.Format(Shape), ShapeException.Format(gradient.Shape));

        var order = TopologicalOrder();
        foreach (var t in order) if (t.backward is not null) t.Grad = null;   // fresh grads for intermediates
        if (gradient is null) Backend.Fill(GradBuffer(), 1f);
        else Backend.Axpy(1f, gradient.Data, GradBuffer());
        using (GradMode.Disable())
            for (int i = order.Count - 1; i >= 0; i--)
                if (order[i].backward is not null && order[i].Grad is not null) order[i].backward!();
    }

    /// <summary>Parents before children, iteratively (deep graphs must not overflow the stack).</summary>
    List<Tensor> TopologicalOrder()
    {
        var order = new List<Tensor>();
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor node, int next)>();
        stack.Push((this, 0));
        seen.Add(this);
        while (stack.Count > 0)
        {
            var (node, next) = stack.Pop();
            if (next < node.parents.Length)
            {
                stack.Push((node, next + 1));
                var p = node.parents[next];
                if (p.RequiresGrad && seen.Add(p)) stack.Push((p, 0));
            }
            else order.Add(node);
        }
        return order;
    }
}

/// <summary>
/// The gradients of a group of parameters laid end to end (IBackend.AllocateContiguous), allocated zero-filled when
/// the first of them is needed: a model that is never trained (a frozen reference, a sampler) never pays for them.
/// </summary>
public sealed class ContiguousGrads(IBackend backend, IReadOnlyList<int> sizes)
{
    DeviceBuffer[]? buffers;
    public IReadOnlyList<int> Sizes => sizes;
    public IReadOnlyList<DeviceBuffer> Buffers => buffers ??= backend.AllocateContiguous(sizes);
}
