using Engine.Autograd;
using Engine.Kernels;

namespace Engine.Model;

/// <summary>
/// Per-layer key and value buffers [B, Tmax, Hkv·D] for incremental decoding. Each forward writes
/// its new k, v at the given positions and attends over entries 0..position, so rows of a batch may
/// sit at different positions (prompts of different lengths).
/// </summary>
public sealed class KvCache
{
    readonly DeviceBuffer[] keys, values;
    readonly ModelConfig config;
    public int Batch { get; }
    public int MaxSteps { get; }

    KvCache(ModelConfig config, DeviceBuffer[] keys, DeviceBuffer[] values, int batch, int maxSteps)
    {
        (this.config, this.keys, this.values, Batch, MaxSteps) = (config, keys, values, batch, maxSteps);
    }

    /// <summary>
    /// A cache holding only the given rows, in that order (gathered on the device): finished rows leave the
    /// batch. This cache's buffers go back to the pool; use the returned one from now on.
    /// </summary>
    public KvCache Keep(int[] rows)
    {
        var be = keys[0].Backend;
        int rowLength = MaxSteps * config.KvHeads * config.HeadDim;
        DeviceBuffer Gather(DeviceBuffer all)
        {
            var kept = be.Allocate(rows.Length * rowLength);
            be.Embedding(rows, all, kept, Batch, rowLength);
            return kept;
        }
        var kept = new KvCache(config, keys.Select(Gather).ToArray(), values.Select(Gather).ToArray(), rows.Length, MaxSteps);
        foreach (var buffer in keys.Concat(values)) buffer.Dispose();
        return kept;
    }

    public KvCache(Transformer model, int batch, int maxSteps)
    {
        config = model.Config;
        if (maxSteps > config.MaxPositions)
            throw new ArgumentException($"kv cache: {maxSteps} steps exceed the model's context of {config.MaxPositions}");
        Batch = batch;
        MaxSteps = maxSteps;
        int size = batch * maxSteps * config.KvHeads * config.HeadDim;
        keys = Enumerable.Range(0, config.Layers).Select(_ => model.Backend.Allocate(size)).ToArray();
        values = Enumerable.Range(0, config.Layers).Select(_ => model.Backend.Allocate(size)).ToArray();
    }

    /// <summary>Writes k, v [B, T, Hkv·D] of layer i at positions, then attends q [B, T, H·D] over the cache.</summary>
    public Tensor Attend(int layer, Tensor q, Tensor k, Tensor v, RowPositions positions)
    {
        if (positions.Device is { } at) return AttendAt(layer, q, k, v, at);
        var host = positions.Host!;
        if (GradMode.Enabled && (q.RequiresGrad || k.RequiresGrad || v.RequiresGrad))
            throw new InvalidOperationException("kv cache: attention over the cache has no backward; run generation " +
                "under GradMode.Disable()");
        int B = q.Shape[0], T = q.Shape[1];
        if (B != Batch) throw new ShapeException("attention_cached", "q", $"batch {Batch}", ShapeException.Format(q.Shape));
        var be = q.Backend;
        int kvCols = config.KvHeads * config.HeadDim;
        be.KvCacheWrite(k.Data, keys[layer], host, B, T, MaxSteps, kvCols);
        be.KvCacheWrite(v.Data, values[layer], host, B, T, MaxSteps, kvCols);
        var output = Tensor.Zeros(be, q.Shape);
        be.AttentionCached(q.Data, keys[layer], values[layer], output.Data, host, B, T, MaxSteps, config.Heads,
            config.KvHeads, config.HeadDim);
        return output;
    }

    /// <summary>The same for one new row per sequence with its position already on the device (the decode loop).</summary>
    Tensor AttendAt(int layer, Tensor q, Tensor k, Tensor v, DeviceInts positions)
    {
        int B = q.Shape[0];
        if (B != Batch || q.Shape[1] != 1 || positions.Length != B)
            throw new ShapeException("attention_cached_at", "q", $"[{Batch}, 1, ...] with {Batch} positions",
                $"{ShapeException.Format(q.Shape)} with {positions.Length} positions");
        var decode = RowPositions.Decode(q.Backend);
        int kvCols = config.KvHeads * config.HeadDim;
        decode.KvCacheWrite(k.Data, keys[layer], positions, MaxSteps, kvCols);
        decode.KvCacheWrite(v.Data, values[layer], positions, MaxSteps, kvCols);
        var output = Tensor.Zeros(q.Backend, q.Shape);
        decode.AttentionCached(q.Data, keys[layer], values[layer], output.Data, positions, MaxSteps, config.Heads,
            config.KvHeads, config.HeadDim);
        return output;
    }
}
