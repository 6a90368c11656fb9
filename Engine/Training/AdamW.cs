using Engine.Autograd;
using Engine.Model;
using Engine.Kernels;

namespace Engine.Training;

/// <summary>
/// AdamW over a set of parameters, PyTorch's defaults (β = 0.9, 0.999; eps = 1e-8). Parameters
/// are given in two groups: decayed (matrices) and not decayed (norms, biases, embeddings), as
/// GPT-2 and nanoGPT train. The moments live on the parameters' backend, each group's end to end; where a group's
/// parameters and gradients also lie end to end (a Transformer on a GPU), the group is one launch over the joined
/// buffers (multi-tensor AdamW) — elementwise, so the same bits as one launch per tensor.
/// </summary>
public sealed class AdamW
{
    sealed record Slot(Tensor Param, DeviceBuffer M, DeviceBuffer V, bool Decay);

    readonly List<Slot> slots = [];
    readonly List<Slot[]> groups = [];

    /// <summary>One launch per group where the buffers join (default); false: one launch per tensor.</summary>
    public bool MultiTensor { get; init; } = true;
    public float Beta1 { get; init; } = 0.9f;
    public float Beta2 { get; init; } = 0.999f;
    public float Eps { get; init; } = 1e-8f;
    public float WeightDecay { get; init; } = 0.01f;
    public int Step { get; set; }

    /// <summary>
    /// The optimiser for a model, with the one weight-decay policy of the engine: decay on projection
    /// matrices only, never on norms, biases or embeddings (<see cref="Transformer.Decays"/>).
    /// </summary>
    public static AdamW For(Transformer model, float weightDecay) =>
        new(model.Named.Where(n => Transformer.Decays(n.Name, n.Param)).Select(n => n.Param),
            model.Named.Where(n => !Transformer.Decays(n.Name, n.Param)).Select(n => n.Param)) { WeightDecay = weightDecay };

    public AdamW(IEnumerable<Tensor> decayed, IEnumerable<Tensor>? notDecayed = null)
    {
        Add(decayed.ToList(), true);
        Add((notDecayed ?? []).ToList(), false);
    }

    void Add(List<Tensor> group, bool decay)
    {
        if (group.Count == 0) return;
        foreach (var p in group)
            if (!p.RequiresGrad) throw new ArgumentException($"adamw: parameter {p} does not require grad");
        var sizes = group.Select(p => p.Size).ToList();
        var be = group[0].Backend;
        var m = be.AllocateContiguous(sizes);
        var v = be.AllocateContiguous(sizes);
        var added = group.Select((p, i) => new Slot(p, m[i], v[i], decay)).ToArray();
        slots.AddRange(added);
        groups.Add(added);
    }

    public IEnumerable<Tensor> Parameters => slots.Select(s => s.Param);

    /// <summary>The first and second moments of each parameter (for checkpoints: save, or copy into on resume).</summary>
    public IEnumerable<(Tensor Param, DeviceBuffer M, DeviceBuffer V)> Moments => slots.Select(s => (s.Param, s.M, s.V));

    /// <summary>One update with learning rate lr; parameters with no gradient yet are skipped.</summary>
    public void Update(float lr)
    {
        Step++;
        foreach (var group in groups)
        {
            float wd = group[0].Decay ? WeightDecay : 0f;
            if (MultiTensor && Joined(group) is var (p, g, m, v))
            {
                group[0].Param.Backend.AdamW(p, g, m, v, lr, Beta1, Beta2, Eps, wd, Step);
                continue;
            }
            foreach (var s in group)
                if (s.Param.Grad is not null)
                    s.Param.Backend.AdamW(s.Param.Data, s.Param.Grad.Data, s.M, s.V, lr, Beta1, Beta2, Eps, wd, Step);
        }
    }

    /// <summary>The group's parameters, gradients and moments each as one buffer, when every one of them has a
    /// gradient and all four lie end to end; otherwise null.</summary>
    static (DeviceBuffer, DeviceBuffer, DeviceBuffer, DeviceBuffer)? Joined(Slot[] group)
    {
        if (group.Length < 2 || group.Any(s => s.Param.Grad is null)) return null;
        var be = group[0].Param.Backend;
        var p = be.Join(group.Select(s => s.Param.Data).ToList());
        var g = be.Join(group.Select(s => s.Param.Grad!.Data).ToList());
        var m = be.Join(group.Select(s => s.M).ToList());
        var v = be.Join(group.Select(s => s.V).ToList());
        return p is null || g is null || m is null || v is null ? null : (p, g, m, v);
    }

    public void ZeroGrad()
    {
        foreach (var s in slots) s.Param.ZeroGrad();
    }
}

/// <summary>Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_).</summary>
public static class GradClip
{
    /// <summary>Scales all gradients by maxNorm/norm when their global L2 norm exceeds maxNorm; returns the norm before clipping.</summary>
    public static float ClipGlobalNorm(IEnumerable<Tensor> parameters, float maxNorm)
    {
        var withGrad = parameters.Where(p => p.Grad is not null).ToList();
        if (withGrad.Count == 0) return 0f;
        // Σg² of each run of gradients that lie end to end (a whole group of a Transformer's on a GPU, one tensor
        // each on the CPU) into one device buffer, read back in one copy and summed in float64 in a fixed order:
        // one round trip a step, and on the CPU the same bits as a loop over tensors.
        var be = withGrad[0].Backend;
        var runs = Runs(be, withGrad.Select(p => p.Grad!.Data).ToList());
        using var sums = be.Allocate(runs.Count);
        for (int i = 0; i < runs.Count; i++) be.SumOfSquaresInto(runs[i], sums, i);
        double sumSq = 0;
        foreach (float s in sums.ToArray()) sumSq += s;
        float norm = (float)Math.Sqrt(sumSq);
        if (maxNorm > 0 && norm > maxNorm)
        {
            float scale = maxNorm / (norm + 1e-6f);
            foreach (var run in runs) be.Scale(run, scale, run);
        }
        return norm;
    }

    /// <summary>The buffers grouped into maximal runs that the backend joins into one (see IBackend.Join).</summary>
    static List<DeviceBuffer> Runs(IBackend be, IReadOnlyList<DeviceBuffer> parts)
    {
        var runs = new List<DeviceBuffer>();
        var current = new List<DeviceBuffer>();
        DeviceBuffer? joined = null;
        foreach (var part in parts)
        {
            if (current.Count > 0 && be.Join([.. current, part]) is { } longer)
            {
                current.Add(part);
                joined = longer;
                continue;
            }
            if (joined is not null) runs.Add(joined);
            current.Clear();
            current.Add(part);
            joined = part;
        }
        if (joined is not null) runs.Add(joined);
        return runs;
    }
}
