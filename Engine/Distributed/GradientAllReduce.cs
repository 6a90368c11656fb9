using Engine.Autograd;
using Engine.Kernels;
using Engine.Kernels.Gpu;

namespace Engine.Distributed;

/// <summary>
/// Sums the ranks' gradients of a parameter set, and a few scalars of the step (loss shares, token counts), in one
/// all-reduce over a flat buffer instead of one call per tensor. Each rank scales its loss by its share of the
/// global batch (see the trainers), so the sum is the gradient of one process's loss over the whole batch.
/// Host memory (the CPU backend, whose gradients are separate arrays): the gradients are copied end to end into
/// one array, followed by one has-gradient flag per parameter and the scalars; MPI sums it; the sums are copied
/// back. A parameter without a gradient on some rank takes part with zeros, and gets one where any rank had one
/// (a rank's share may not reach a parameter that another rank's does). CUDA with NCCL: see <see cref="NcclReducer"/>.
/// </summary>
public sealed class GradientAllReduce
{
    readonly Communicator comm;
    readonly IReadOnlyList<Tensor> parameters;
    readonly int gradLength;
    readonly NcclReducer? nccl;
    float[] flat = [];

    public GradientAllReduce(Communicator comm, IEnumerable<Tensor> parameters)
    {
        this.comm = comm;
        this.parameters = parameters.ToList();
        gradLength = checked(this.parameters.Sum(p => p.Size));
        var be = this.parameters.FirstOrDefault()?.Backend;
        nccl = be is not null ? NcclReducer.For(comm, be) : null;
    }

    /// <summary>The gradients summed over the ranks, in place; returns the sums of
    /// <paramref name="scalars"/>.</summary>
    public float[] Run(ReadOnlySpan<float> scalars, string what)
    {
        if (nccl is not null) return RunNccl(scalars, what);
        int n = parameters.Count;
        int length = checked(gradLength + n + scalars.Length);
        if (flat.Length != length) flat = new float[length];
        var span = flat.AsSpan();
        int at = 0;
        for (int i = 0; i < n; i++)
        {
            var p = parameters[i];
            if (p.Grad is { } g) g.Data.CopyTo(span.Slice(at, p.Size));
            else span.Slice(at, p.Size).Clear();
            span[gradLength + i] = p.Grad is null ? 0f : 1f;
            at += p.Size;
        }
        scalars.CopyTo(span[(gradLength + n)..]);
        comm.AllReduceSum(span, what);
        at = 0;
        for (int i = 0; i < n; i++)
        {
            var p = parameters[i];
            if (span[gradLength + i] > 0) p.GradBuffer().CopyFrom(span.Slice(at, p.Size));
            at += p.Size;
        }
        return span[(gradLength + n)..].ToArray();
    }

    /// <summary>The flags and scalars through MPI (a few floats on the host), then the gradients on the
    /// device.</summary>
    float[] RunNccl(ReadOnlySpan<float> scalars, string what)
    {
        int n = parameters.Count;
        var small = new float[n + scalars.Length];
        for (int i = 0; i < n; i++) small[i] = parameters[i].Grad is null ? 0f : 1f;
        scalars.CopyTo(small.AsSpan(n));
        comm.AllReduceSum(small, what + " (scalars)");
        var grads = new List<DeviceBuffer>();
        for (int i = 0; i < n; i++)
            if (small[i] > 0) grads.Add(parameters[i].GradBuffer());
        nccl!.AllReduceSum(grads, what);
        return small[n..];
    }
}
