using Engine.Kernels;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// Every ILGPU kernel on ILGPU's CPU accelerator against the CPU reference, on fresh random inputs at
/// small shapes, sizes off every tile and T = 1 included: max relative error ≤ 1e-4 (the worst is printed).
/// </summary>
[NonParallelizable]
public class GpuBackendTests
{
    static GpuBackend gpu = null!;
    static readonly CpuBackend cpu = new();
    Random rng = null!;

    [OneTimeSetUp] public void Open() => gpu = new GpuBackend("ilgpu-cpu");
    [OneTimeTearDown] public void Close() => gpu.Dispose();
    [SetUp] public void Seed() => rng = new Random(TestContext.CurrentContext.Test.Name.GetHashCode() & 0xffff);

    float[] R(int n, float scale = 1f) => GradCheck.Rand(rng, n, scale);

    /// <summary>The same values on both backends.</summary>
    (DeviceBuffer Cpu, DeviceBuffer Gpu) Pair(float[] values)
    {
        var c = cpu.Allocate(values.Length); c.CopyFrom(values);
        var g = gpu.Allocate(values.Length); g.CopyFrom(values);
        return (c, g);
    }

    (DeviceBuffer Cpu, DeviceBuffer Gpu) Pair(int n, float scale = 1f) => Pair(R(n, scale));

    static void Same(string what, (DeviceBuffer Cpu, DeviceBuffer Gpu) p, double tol = 1e-4) => Same(what, p.Cpu.ToArray(), p.Gpu.ToArray(), tol);

    static void Same(string what, float[] expected, float[] actual, double tol = 1e-4)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), what);
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double rel = Math.Abs(actual[i] - expected[i]) / Math.Max(1.0, Math.Abs(expected[i]));
            if (rel > worst) { worst = rel; at = i; }
        }
        TestContext.Out.WriteLine($"{what}: worst relative error {worst:E2}");
        Assert.That(worst, Is.LessThanOrEqualTo(tol), $"{what}: worst relative error {worst:E2} at [{at}] (expected {(at >= 0 ? expected[at] : 0)}, got {(at >= 0 ? actual[at] : 0)})");
    }

    [TestCase(1, 1, 1, false, false, false)]
    [TestCase(7, 13, 5, false, true, false)]
    [TestCase(17, 9, 33, true, false, true)]
    [TestCase(20, 21, 19, true, true, true)]
    [TestCase(3, 40, 16, false, false, true)]
    public void MatMul(int m, int n, int k, bool transA, bool transB, bool accumulate)
    {
        var a = Pair(m * k); var b = Pair(k * n); var c = Pair(m * n);
        cpu.MatMul(a.Cpu, b.Cpu, c.Cpu, m, n, k, transA, transB, accumulate);
        gpu.MatMul(a.Gpu, b.Gpu, c.Gpu, m, n, k, transA, transB, accumulate);
        Same("matmul", c);
    }

    [TestCase(1)]
    [TestCase(37)]
    [TestCase(1000)]
    public void Elementwise(int n)
    {
        var a = Pair(n, 3f); var b = Pair(n, 3f); var y = Pair(n);
        cpu.Add(a.Cpu, b.Cpu, y.Cpu); gpu.Add(a.Gpu, b.Gpu, y.Gpu); Same("add", y);
        cpu.Mul(a.Cpu, b.Cpu, y.Cpu); gpu.Mul(a.Gpu, b.Gpu, y.Gpu); Same("mul", y);
        cpu.Scale(a.Cpu, -0.7f, y.Cpu); gpu.Scale(a.Gpu, -0.7f, y.Gpu); Same("scale", y);
        cpu.Axpy(1.3f, a.Cpu, y.Cpu); gpu.Axpy(1.3f, a.Gpu, y.Gpu); Same("axpy", y);
        var da = Pair(n); var db = Pair(n);
        cpu.MulBackward(a.Cpu, b.Cpu, y.Cpu, da.Cpu, db.Cpu); gpu.MulBackward(a.Gpu, b.Gpu, y.Gpu, da.Gpu, db.Gpu);
        Same("mul_backward da", da); Same("mul_backward db", db);
        cpu.Gelu(a.Cpu, y.Cpu); gpu.Gelu(a.Gpu, y.Gpu); Same("gelu", y);
        cpu.GeluBackward(a.Cpu, b.Cpu, da.Cpu); gpu.GeluBackward(a.Gpu, b.Gpu, da.Gpu); Same("gelu_backward", da);
        cpu.Silu(a.Cpu, y.Cpu); gpu.Silu(a.Gpu, y.Gpu); Same("silu", y);
        cpu.SiluBackward(a.Cpu, b.Cpu, da.Cpu); gpu.SiluBackward(a.Gpu, b.Gpu, da.Gpu); Same("silu_backward", da);
        cpu.SwiGlu(a.Cpu, b.Cpu, y.Cpu); gpu.SwiGlu(a.Gpu, b.Gpu, y.Gpu); Same("swiglu", y);
        cpu.SwiGluBackward(a.Cpu, b.Cpu, y.Cpu, da.Cpu, db.Cpu); gpu.SwiGluBackward(a.Gpu, b.Gpu, y.Gpu, da.Gpu, db.Gpu);
        Same("swiglu_backward dgate", da); Same("swiglu_backward dup", db);
        cpu.Fill(y.Cpu, 2.5f); gpu.Fill(y.Gpu, 2.5f); Same("fill", y);
        var s = Pair(1);
        cpu.Sum(a.Cpu, s.Cpu); gpu.Sum(a.Gpu, s.Gpu); Same("sum", s);
        cpu.SumBackward(s.Cpu, y.Cpu, 0.5f); gpu.SumBackward(s.Gpu, y.Gpu, 0.5f); Same("sum_backward", y);
        var sq = Pair(3);
        cpu.SumOfSquaresInto(a.Cpu, sq.Cpu, 1); gpu.SumOfSquaresInto(a.Gpu, sq.Gpu, 1); Same("sum_of_squares_into", sq);
        var m = Pair(n); var v = Pair(R(n).Select(Math.Abs).ToArray());
        cpu.AdamW(y.Cpu, a.Cpu, m.Cpu, v.Cpu, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 3);
        gpu.AdamW(y.Gpu, a.Gpu, m.Gpu, v.Gpu, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 3);
        Same("adamw param", y); Same("adamw m", m); Same("adamw v", v);
    }

    [TestCase(1, 1)]
    [TestCase(7, 13)]
    [TestCase(5, 70)]
    public void RowOps(int rows, int cols)
    {
        var x = Pair(rows * cols, 2f); var w = Pair(cols); var b = Pair(cols); var y = Pair(rows * cols); var dy = Pair(rows * cols);
        cpu.BiasAdd(x.Cpu, b.Cpu, y.Cpu, rows, cols); gpu.BiasAdd(x.Gpu, b.Gpu, y.Gpu, rows, cols); Same("bias_add", y);
        cpu.BiasBackward(dy.Cpu, b.Cpu, rows, cols); gpu.BiasBackward(dy.Gpu, b.Gpu, rows, cols); Same("bias_backward", b);
        var mean = Pair(rows); var rstd = Pair(rows);
        cpu.LayerNorm(x.Cpu, w.Cpu, b.Cpu, y.Cpu, mean.Cpu, rstd.Cpu, rows, cols, 1e-5f);
        gpu.LayerNorm(x.Gpu, w.Gpu, b.Gpu, y.Gpu, mean.Gpu, rstd.Gpu, rows, cols, 1e-5f);
        Same("layernorm", y); Same("layernorm mean", mean); Same("layernorm rstd", rstd);
        var dx = Pair(rows * cols); var dw = Pair(cols); var db = Pair(cols);
        cpu.LayerNormBackward(x.Cpu, w.Cpu, mean.Cpu, rstd.Cpu, dy.Cpu, dx.Cpu, dw.Cpu, db.Cpu, rows, cols);
        gpu.LayerNormBackward(x.Gpu, w.Gpu, mean.Gpu, rstd.Gpu, dy.Gpu, dx.Gpu, dw.Gpu, db.Gpu, rows, cols);
        Same("layernorm_backward dx", dx); Same("layernorm_backward dw", dw); Same("layernorm_backward db", db);
        cpu.RmsNorm(x.Cpu, w.Cpu, y.Cpu, rstd.Cpu, rows, cols, 1e-6f); gpu.RmsNorm(x.Gpu, w.Gpu, y.Gpu, rstd.Gpu, rows, cols, 1e-6f);
        Same("rmsnorm", y); Same("rmsnorm rstd", rstd);
        cpu.RmsNormBackward(x.Cpu, w.Cpu, rstd.Cpu, dy.Cpu, dx.Cpu, dw.Cpu, rows, cols);
        gpu.RmsNormBackward(x.Gpu, w.Gpu, rstd.Gpu, dy.Gpu, dx.Gpu, dw.Gpu, rows, cols);
        Same("rmsnorm_backward dx", dx); Same("rmsnorm_backward dw", dw);
        cpu.Softmax(x.Cpu, y.Cpu, rows, cols); gpu.Softmax(x.Gpu, y.Gpu, rows, cols); Same("softmax", y);
        cpu.SoftmaxBackward(y.Cpu, dy.Cpu, dx.Cpu, rows, cols); gpu.SoftmaxBackward(y.Gpu, dy.Gpu, dx.Gpu, rows, cols); Same("softmax_backward", dx);
    }

    [TestCase(1, 5)]
    [TestCase(9, 37)]
    public void CrossEntropyAndEmbedding(int rows, int vocab)
    {
        var logits = Pair(rows * vocab, 4f);
        int[] targets = Enumerable.Range(0, rows).Select(i => i % 4 == 1 ? -1 : rng.Next(vocab)).ToArray();
        var g = Pair(rows * vocab);
        float lc = cpu.CrossEntropy(logits.Cpu, targets, g.Cpu, rows, vocab, -1, 0.5f);
        float lg = gpu.CrossEntropy(logits.Gpu, targets, g.Gpu, rows, vocab, -1, 0.5f);
        Same("cross_entropy loss", [lc], [lg]); Same("cross_entropy dlogits", g);
        // In place: dlogits over the logits.
        cpu.CrossEntropy(logits.Cpu, targets, logits.Cpu, rows, vocab); gpu.CrossEntropy(logits.Gpu, targets, logits.Gpu, rows, vocab);
        Same("cross_entropy in place", logits);

        int cols = 6;
        var table = Pair(vocab * cols); var y = Pair(rows * cols);
        int[] ids = Enumerable.Range(0, rows).Select(_ => rng.Next(Math.Min(vocab, 4))).ToArray();   // repeats
        cpu.Embedding(ids, table.Cpu, y.Cpu, vocab, cols); gpu.Embedding(ids, table.Gpu, y.Gpu, vocab, cols); Same("embedding", y);
        cpu.EmbeddingBackward(ids, y.Cpu, table.Cpu, vocab, cols); gpu.EmbeddingBackward(ids, y.Gpu, table.Gpu, vocab, cols); Same("embedding_backward", table);
    }

    [TestCase(2, 3, 2, 8)]
    [TestCase(1, 1, 1, 6)]
    public void Rope(int batch, int steps, int heads, int headDim)
    {
        int[] positions = Enumerable.Range(0, batch * steps).Select(i => i % steps + 5 * (i / steps)).ToArray();
        var x = Pair(batch * steps * heads * headDim); var y = Pair(x.Cpu.Length);
        cpu.Rope(x.Cpu, y.Cpu, positions, batch, steps, heads, headDim, 10000f); gpu.Rope(x.Gpu, y.Gpu, positions, batch, steps, heads, headDim, 10000f);
        Same("rope", y);
        cpu.RopeBackward(y.Cpu, x.Cpu, positions, batch, steps, heads, headDim, 10000f); gpu.RopeBackward(y.Gpu, x.Gpu, positions, batch, steps, heads, headDim, 10000f);
        Same("rope_backward", x);
    }

    [TestCase(2, 1, 2, 2, 8)]     // T = 1
    [TestCase(1, 19, 2, 2, 8)]    // T off the tile (16 rows on the CPU accelerator)
    [TestCase(2, 9, 4, 2, 12)]    // grouped-query
    [TestCase(1, 17, 3, 1, 32)]   // multi-query, head size 32
    [TestCase(1, 5, 2, 2, 64)]    // head size 64
    [TestCase(1, 6, 2, 1, 128)]   // head size 128, the largest the kernel takes
    public void FusedAttentionMatchesReferenceForwardAndAllGradients(int batch, int steps, int qHeads, int kvHeads, int headDim)
    {
        int nq = batch * steps * qHeads * headDim, nk = batch * steps * kvHeads * headDim;
        var q = Pair(nq); var k = Pair(nk); var v = Pair(nk); var o = Pair(nq); var lse = Pair(batch * qHeads * steps);
        cpu.Attention(q.Cpu, k.Cpu, v.Cpu, o.Cpu, lse.Cpu, batch, steps, qHeads, kvHeads, headDim);
        gpu.Attention(q.Gpu, k.Gpu, v.Gpu, o.Gpu, lse.Gpu, batch, steps, qHeads, kvHeads, headDim);
        Same("attention out", o); Same("attention lse", lse);
        var dout = Pair(nq); var dq = Pair(nq); var dk = Pair(nk); var dv = Pair(nk);
        cpu.AttentionBackward(q.Cpu, k.Cpu, v.Cpu, o.Cpu, lse.Cpu, dout.Cpu, dq.Cpu, dk.Cpu, dv.Cpu, batch, steps, qHeads, kvHeads, headDim);
        gpu.AttentionBackward(q.Gpu, k.Gpu, v.Gpu, o.Gpu, lse.Gpu, dout.Gpu, dq.Gpu, dk.Gpu, dv.Gpu, batch, steps, qHeads, kvHeads, headDim);
        Same("attention dq", dq); Same("attention dk", dk); Same("attention dv", dv);
    }

    [Test]
    public void KvCacheAttention()
    {
        int batch = 2, steps = 2, maxSteps = 7, qHeads = 4, kvHeads = 2, D = 8;
        int[] positions = [3, 4, 0, 1];
        var kc = Pair(batch * maxSteps * kvHeads * D); var vc = Pair(kc.Cpu.Length);
        var knew = Pair(batch * steps * kvHeads * D);
        cpu.KvCacheWrite(knew.Cpu, kc.Cpu, positions, batch, steps, maxSteps, kvHeads * D);
        gpu.KvCacheWrite(knew.Gpu, kc.Gpu, positions, batch, steps, maxSteps, kvHeads * D);
        Same("kv_cache_write", kc);
        var q = Pair(batch * steps * qHeads * D); var o = Pair(q.Cpu.Length);
        cpu.AttentionCached(q.Cpu, kc.Cpu, vc.Cpu, o.Cpu, positions, batch, steps, maxSteps, qHeads, kvHeads, D);
        gpu.AttentionCached(q.Gpu, kc.Gpu, vc.Gpu, o.Gpu, positions, batch, steps, maxSteps, qHeads, kvHeads, D);
        Same("attention_cached", o);
    }

    [TestCase(Engine.Model.Architecture.Gpt2)]
    [TestCase(Engine.Model.Architecture.Llama)]
    public void TransformerForwardBackwardMatchesTheCpuBackend(Engine.Model.Architecture type)
    {
        var cfg = TransformerTests.Small(type, valueHead: true);
        var onCpu = new Engine.Model.Transformer(cfg, cpu, seed: 11);
        var onGpu = new Engine.Model.Transformer(cfg, gpu, seed: 11);
        int B = 2, T = 7;
        int[] ids = Enumerable.Range(0, B * T).Select(_ => rng.Next(cfg.VocabSize)).ToArray();
        int[] targets = ids.Skip(1).Append(-1).ToArray();
        float Step(Engine.Model.Transformer m)
        {
            var hidden = m.Hidden(ids, B, T);
            var loss = Engine.Autograd.Ops.Add(Engine.Autograd.Ops.CrossEntropy(m.Logits(hidden), targets),
                                               Engine.Autograd.Ops.Mean(m.Values(hidden)));
            loss.Backward();
            return loss.Item();
        }
        Same("loss", [Step(onCpu)], [Step(onGpu)]);
        for (int i = 0; i < onCpu.Named.Count; i++)
            Same("grad " + onCpu.Named[i].Name, onCpu.Named[i].Param.Grad!.ToArray(), onGpu.Named[i].Param.Grad!.ToArray());
    }

    [Test]
    public void MemoryPoolReusesReturnedBuffers()
    {
        Assert.That(Engine.Kernels.Gpu.MemoryPool<float>.SizeClass(1), Is.EqualTo(256));
        Assert.That(Engine.Kernels.Gpu.MemoryPool<float>.SizeClass(1000), Is.EqualTo(1024));
        Assert.That(Engine.Kernels.Gpu.MemoryPool<float>.SizeClass((1 << 20) + 1), Is.EqualTo(2 << 20));
        var a = (Engine.Kernels.Gpu.GpuBuffer)gpu.Allocate(1000);
        a.CopyFrom(R(1000));
        long before = gpu.Floats.AllocatedBytes;
        a.Dispose();
        var b = (Engine.Kernels.Gpu.GpuBuffer)gpu.Allocate(900);                 // same size class: no new device memory
        Assert.That(gpu.Floats.AllocatedBytes, Is.EqualTo(before));
        Assert.That(b.ToArray(), Is.All.EqualTo(0f), "a reused buffer starts zeroed");
        Assert.Throws<ShapeException>(() => gpu.Attention(gpu.Allocate(160), gpu.Allocate(160), gpu.Allocate(160), gpu.Allocate(160), gpu.Allocate(1), 1, 1, 1, 1, 160));
    }

    /// <summary>
    /// A training step's host round trips do not grow with the model: the same number of device→host copies
    /// for 2 and 4 layers (the loss, the gradient norm, the cross-entropy's per-row losses — no copy per tensor
    /// or per layer), counted through the backend.
    /// </summary>
    [Test]
    public void ATrainingStepCopiesToTheHostTheSameFewTimesWhateverTheDepth()
    {
        (long Down, long Up) CopiesPerStep(int layers)
        {
            var cfg = Engine.Model.ModelConfig.Preset("micro", 30, 8) with { Layers = layers };
            var model = new Engine.Model.Transformer(cfg, gpu, seed: 1);
            var optimizer = Engine.Training.AdamW.For(model, 0.1f);
            int[] ids = Enumerable.Range(0, 16).Select(i => i % 30).ToArray(), targets = ids.Select(i => (i + 1) % 30).ToArray();
            (long, long) Step()
            {
                long before = gpu.Transfers.ToHost, beforeUp = gpu.Transfers.ToDevice;
                optimizer.ZeroGrad();
                var loss = Engine.Autograd.Ops.CrossEntropy(model.Forward(ids, 2, 8), targets);
                loss.Backward();
                Engine.Training.GradClip.ClipGlobalNorm(optimizer.Parameters, 1f);
                optimizer.Update(1e-3f);
                _ = loss.Item();
                return (gpu.Transfers.ToHost - before, gpu.Transfers.ToDevice - beforeUp);
            }
            Step();
            return Step();
        }
        var (two, twoUp) = CopiesPerStep(2);
        var (four, fourUp) = CopiesPerStep(4);
        TestContext.Out.WriteLine($"device→host copies per step: {two} (2 layers), {four} (4 layers); " +
                                  $"host→device: {twoUp}, {fourUp}");
        Assert.That(four, Is.EqualTo(two), "no copy per layer or per tensor");
        Assert.That(two, Is.LessThanOrEqualTo(5));
        // In: the batch only (token ids and targets, each uploaded where a kernel reads them), whatever the depth.
        Assert.That(fourUp, Is.EqualTo(twoUp), "no upload per layer or per tensor");
        Assert.That(twoUp, Is.LessThanOrEqualTo(6));
    }

    /// <summary>
    /// --profile on a GPU backend times kernels with device events: every call is booked under its op with a
    /// non-negative device time, and the profiler adds no device-wide synchronisation of its own.
    /// </summary>
    [Test]
    public void TheProfilerTimesKernelsWithDeviceEventsAndNoSynchronisation()
    {
        using var device = new GpuBackend("ilgpu-cpu", deviceTiming: true);
        var timing = new TimingBackend(device);
        Assert.That(timing.DeviceTimed);
        var rng = new Random(5);
        using var a = device.Allocate(6 * 5);
        using var b = device.Allocate(5 * 7);
        using var c = device.Allocate(6 * 7);
        a.CopyFrom(Enumerable.Range(0, 30).Select(_ => (float)rng.NextDouble()).ToArray());
        b.CopyFrom(Enumerable.Range(0, 35).Select(_ => (float)rng.NextDouble()).ToArray());
        long syncs = device.Transfers.Synchronizations;
        for (int i = 0; i < 3; i++) timing.MatMul(a, b, c, 6, 7, 5, false, false, false);
        timing.Fill(c, 1f);
        Assert.That(device.Transfers.Synchronizations, Is.EqualTo(syncs), "no synchronise around timed calls");
        var report = timing.Report().ToDictionary(r => r.Op);
        Assert.That(report[nameof(IBackend.MatMul)].Calls, Is.EqualTo(3));
        Assert.That(report[nameof(IBackend.Fill)].Calls, Is.EqualTo(1));
        Assert.That(report.Values.All(r => r.Milliseconds >= 0), "device times");
        Assert.That(timing.FormatReport(), Does.Contain("device ms").And.Contain("synchronise"));
    }

    /// <summary>
    /// Multi-tensor AdamW: a Transformer on a GPU keeps its parameters and gradients end to end, so AdamW updates the
    /// decayed and the not-decayed group in one launch each — and the weights after three steps are the same bits as
    /// with one launch per tensor.
    /// </summary>
    [Test]
    public void MultiTensorAdamWEqualsPerTensorAdamWBitForBit()
    {
        float[][] Train(bool multiTensor, out int adamwCalls)
        {
            var timing = new TimingBackend(gpu);
            var cfg = Engine.Model.ModelConfig.Preset("micro", 30, 8) with { Layers = 2 };
            var model = new Engine.Model.Transformer(cfg, timing, seed: 3);
            bool Decays((string Name, Engine.Autograd.Tensor Param) n) => Engine.Model.Transformer.Decays(n.Name, n.Param);
            var optimizer = new Engine.Training.AdamW(model.Named.Where(Decays).Select(n => n.Param),
                model.Named.Where(n => !Decays(n)).Select(n => n.Param)) { WeightDecay = 0.1f, MultiTensor = multiTensor };
            int[] ids = Enumerable.Range(0, 16).Select(i => (i * 7) % 30).ToArray(), targets = ids.Select(i => (i + 3) % 30).ToArray();
            for (int step = 0; step < 3; step++)
            {
                optimizer.ZeroGrad();
                Engine.Autograd.Ops.CrossEntropy(model.Forward(ids, 2, 8), targets).Backward();
                Engine.Training.GradClip.ClipGlobalNorm(optimizer.Parameters, 1f);
                optimizer.Update(1e-2f);
            }
            adamwCalls = timing.Report().Single(r => r.Op == nameof(IBackend.AdamW)).Calls;
            return model.Parameters.Select(p => p.ToArray()).ToArray();
        }
        var fused = Train(true, out int fusedCalls);
        var perTensor = Train(false, out int perTensorCalls);
        TestContext.Out.WriteLine($"AdamW launches in 3 steps: {fusedCalls} multi-tensor, {perTensorCalls} per tensor");
        Assert.That(fusedCalls, Is.EqualTo(3 * 2), "one launch per group (decayed, not decayed) per step");
        Assert.That(perTensorCalls, Is.GreaterThan(fusedCalls));
        for (int i = 0; i < fused.Length; i++) Assert.That(fused[i], Is.EqualTo(perTensor[i]), $"parameter {i}");
    }

    /// <summary>Gradient clipping on a GPU reads each group of a Transformer's gradients as one buffer: two
    /// sum-of-squares launches and two scales a step, whatever the depth, and the norm of the per-tensor sums.</summary>
    [Test]
    public void ClippingReducesEachContiguousGroupOnce()
    {
        var timing = new TimingBackend(gpu);
        var cfg = Engine.Model.ModelConfig.Preset("micro", 30, 8) with { Layers = 3 };
        var model = new Engine.Model.Transformer(cfg, timing, seed: 4);
        int[] ids = Enumerable.Range(0, 16).Select(i => (i * 5) % 30).ToArray(), targets = ids.Select(i => (i + 1) % 30).ToArray();
        Engine.Autograd.Ops.CrossEntropy(model.Forward(ids, 2, 8), targets).Backward();
        double expected = Math.Sqrt(model.Parameters.Sum(p => p.Grad!.ToArray().Sum(g => (double)g * g)));
        var parameters = Engine.Training.AdamW.For(model, 0.1f).Parameters;     // grouped, as the trainers pass them
        timing.Reset();
        float norm = Engine.Training.GradClip.ClipGlobalNorm(parameters, 1e-3f);
        var calls = timing.Report().ToDictionary(r => r.Op, r => r.Calls);
        Assert.That(norm, Is.EqualTo(expected).Within(1e-5 * expected));
        Assert.That(calls[nameof(IBackend.SumOfSquaresInto)], Is.EqualTo(2), "decayed and not-decayed groups");
        Assert.That(calls[nameof(IBackend.Scale)], Is.EqualTo(2));
        double after = Math.Sqrt(model.Parameters.Sum(p => p.Grad!.ToArray().Sum(g => (double)g * g)));
        Assert.That(after, Is.EqualTo(1e-3).Within(1e-8), "clipped to the limit");
    }

    /// <summary>Both sum versions over many groups' worth of elements (40,001: three 16,384-element chunks for v2).</summary>
    [Test]
    public void SumVersionsOverSeveralGroups()
    {
        var rng = new Random(8);
        float[] x = Enumerable.Range(0, 40_001).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        double sum = x.Sum(v => (double)v), squares = x.Sum(v => (double)v * v);
        using var xb = gpu.Allocate(x.Length);
        using var outb = gpu.Allocate(1);
        xb.CopyFrom(x);
        try
        {
            foreach (var (version, _) in Engine.Kernels.Reduce.ReduceOps.SumGpu)
            {
                gpu.Versions.Pin(Engine.Kernels.Reduce.ReduceOps.Sum, version.Number);
                gpu.Versions.Pin(Engine.Kernels.Reduce.ReduceOps.SumOfSquares, version.Number);
                gpu.Sum(xb, outb);
                Assert.That(outb.ToArray()[0], Is.EqualTo(sum).Within(1e-3), $"sum v{version.Number}");
                gpu.SumOfSquaresInto(xb, outb, 0);
                Assert.That(outb.ToArray()[0], Is.EqualTo(squares).Within(1e-5 * squares), $"sum of squares v{version.Number}");
            }
        }
        finally
        {
            gpu.Versions.Pin(Engine.Kernels.Reduce.ReduceOps.Sum, 0);
            gpu.Versions.Pin(Engine.Kernels.Reduce.ReduceOps.SumOfSquares, 0);
        }
    }

    /// <summary>
    /// Flash-decoding (attention-cached v2) against the CPU reference over a cache of several 64-key splits: query
    /// positions 0 (a cache of one), at and across split edges, and the last slot; grouped-query, multi-query and
    /// multi-head layouts; a head size over the lanes' four registers falls back to v1. Two runs, the same bits.
    /// </summary>
    [TestCase(4, 2, 16)]
    [TestCase(3, 1, 8)]
    [TestCase(2, 2, 12)]
    [TestCase(2, 1, 20)]
    public void FlashDecodingMatchesTheReference(int qHeads, int kvHeads, int headDim)
    {
        int batch = 3, steps = 2, maxSteps = 150;
        int[] positions = [0, 63, 64, 65, 127, 149];                   // [B·T]
        var rng = new Random(qHeads * 100 + headDim);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        float[] q = R(batch * steps * qHeads * headDim), kc = R(batch * maxSteps * kvHeads * headDim);
        float[] vc = R(batch * maxSteps * kvHeads * headDim);
        float[] Run(IBackend be)
        {
            var (qb, kb, vb, ob) = (be.Allocate(q.Length), be.Allocate(kc.Length), be.Allocate(vc.Length), be.Allocate(q.Length));
            qb.CopyFrom(q); kb.CopyFrom(kc); vb.CopyFrom(vc);
            be.AttentionCached(qb, kb, vb, ob, positions, batch, steps, maxSteps, qHeads, kvHeads, headDim);
            return ob.ToArray();
        }
        float[] expected = Run(new CpuBackend());
        try
        {
            gpu.Versions.Pin(Engine.Kernels.Attention.AttentionOps.Cached, 2);
            float[] got = Run(gpu);
            Assert.That(got, Is.EqualTo(expected).Within(1e-5f));
            Assert.That(Run(gpu), Is.EqualTo(got), "two runs differ");
        }
        finally { gpu.Versions.Pin(Engine.Kernels.Attention.AttentionOps.Cached, 0); }
    }
}
