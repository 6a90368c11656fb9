using System.Reflection;
using Engine.Kernels;
using Engine.Kernels.Matmul;
using Engine.Kernels.Workbench;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// The kernel workbench: every GPU version of every registered op (forward and backward), run through
/// the same harness `Bench kernels` uses, against the CPU reference on ILGPU's CPU accelerator at odd
/// small shapes and at single rows / T = 1: max relative error ≤ 1e-4 (or the version's own stated tolerance, for
/// lower-precision versions such as TF32) and the same bits twice. Versions that need 32-lane warps and 256-thread
/// groups run on the 32-wide CPU accelerator.
/// </summary>
[NonParallelizable]
public class WorkbenchTests
{
    static GpuBackend gpu = null!;
    static readonly CpuBackend cpu = new();

    [OneTimeSetUp] public void Open() => gpu = new GpuBackend("ilgpu-cpu");
    [OneTimeTearDown] public void Close() => gpu.Dispose();

    static IEnumerable<TestCaseData> Versions() =>
        from op in KernelRegistry.Ops
        from version in op.Versions
        from sizes in new[] { Sizes.Small, Sizes.One }
        select new TestCaseData(op.Name, version.Number, sizes.Name).SetName($"{op.Name} v{version.Number} ({version.Name}) {sizes.Name}");

    [TestCaseSource(nameof(Versions))]
    public void VersionMatchesTheCpuReference(string op, int version, string sizes)
    {
        var declaration = KernelRegistry.Find(op);
        var shape = sizes == Sizes.Small.Name ? Sizes.Small : Sizes.One;
        var rng = new Random(HashCode.Combine(op.Length, op[0], version, sizes.Length));
        var kv = declaration.Versions.Single(v => v.Number == version);
        foreach (var c in declaration.Cases(shape, rng))
        {
            var r = Harness.Check(c, version, cpu, kv.Wide ? TestDevices.Wide : gpu);
            TestContext.Out.WriteLine($"{op} v{version} {c.Shape}: max relative error {r.MaxRelErr:E2}");
            Assert.That(r.MaxRelErr, Is.LessThanOrEqualTo(kv.Tolerance), $"{op} v{version} {c.Shape}");
            Assert.That(r.Deterministic, $"{op} v{version} {c.Shape}: two runs differ");
        }
    }

    [Test]
    public void EveryPrimitiveOfTheBackendIsRegistered()
    {
        string[] housekeeping = [nameof(IBackend.Allocate), nameof(IBackend.AllocateContiguous), nameof(IBackend.Join),
            nameof(IBackend.Synchronize), nameof(IDisposable.Dispose)];
        var primitives = typeof(IBackend).GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Where(m => !m.IsSpecialName).Select(m => m.Name).Except(housekeeping).ToHashSet();
        var registered = KernelRegistry.Ops.Select(o => o.Primitive).ToHashSet();
        Assert.That(primitives.Except(registered), Is.Empty, "primitives without a registered op");
        Assert.That(registered.Except(primitives), Is.Empty, "registered ops that name no primitive");
        Assert.That(KernelRegistry.Ops.Select(o => o.Name), Is.Unique);
        foreach (var op in KernelRegistry.Ops)
        {
            Assert.That(op.Versions.Select(v => v.Number), Is.EqualTo(Enumerable.Range(1, op.Versions.Count)), $"{op.Name}: versions 1..N");
            Assert.That(op.Versions.Any(v => v.Number == op.Default), $"{op.Name}: the default is one of its versions");
        }
    }

    /// <summary>
    /// The row and column-sum kernels at more rows than one group or one column chunk holds (70 rows: 9 groups of 8
    /// warps, the last part empty; 3 chunks of 32 rows), every version against the CPU reference.
    /// </summary>
    [TestCase("layernorm")]
    [TestCase("layernorm-backward")]
    [TestCase("rmsnorm")]
    [TestCase("rmsnorm-backward")]
    [TestCase("softmax")]
    [TestCase("softmax-backward")]
    [TestCase("cross-entropy")]
    [TestCase("bias-backward")]
    public void RowKernelsAcrossGroupsAndChunks(string op)
    {
        var declaration = KernelRegistry.Find(op);
        var sizes = Sizes.Small with { Name = "rows", Rows = 70, Cols = 45, Vocab = 61, Tokens = 70 };
        foreach (var version in declaration.Versions)
            foreach (var c in declaration.Cases(sizes, new Random(70)))
            {
                var r = Harness.Check(c, version.Number, cpu, gpu);
                Assert.That(r.MaxRelErr, Is.LessThanOrEqualTo(1e-4), $"{op} v{version.Number} {c.Shape}");
                Assert.That(r.Deterministic, $"{op} v{version.Number} {c.Shape}: two runs differ");
            }
    }

    /// <summary>Both embedding-backward versions sum each id's rows in ascending row order, then add the sum to the
    /// table: the same bits as each other (the CPU reference adds row by row into the table, so it is only close),
    /// with many repeats of few ids, one id only, and a single row.</summary>
    [TestCase(97, 13, 11)]
    [TestCase(40, 1, 5)]
    [TestCase(1, 7, 3)]
    public void EmbeddingBackwardVersionsGiveTheReferenceBits(int rows, int vocab, int cols)
    {
        var rng = new Random(rows * 31 + vocab);
        int[] ids = CaseData.Ints(rng, rows, vocab);
        float[] dout = CaseData.Uniform(rng, rows * cols), table = CaseData.Uniform(rng, vocab * cols);
        float[] Run(IBackend be)
        {
            using var d = be.Allocate(dout.Length);
            using var t = be.Allocate(table.Length);
            d.CopyFrom(dout);
            t.CopyFrom(table);
            be.EmbeddingBackward(ids, d, t, vocab, cols);
            return t.ToArray();
        }
        float[] reference = Run(cpu);
        float[]? first = null;
        try
        {
            foreach (var v in Engine.Kernels.Embedding.EmbeddingOps.BackwardGpu)
            {
                gpu.Versions.Pin(Engine.Kernels.Embedding.EmbeddingOps.Backward, v.Version.Number);
                float[] got = Run(gpu);
                string what = $"embedding-backward v{v.Version.Number} {rows} rows of {vocab}x{cols}";
                Assert.That(got, Is.EqualTo(reference).Within(1e-5f), what);
                if (first is null) first = got;
                else Assert.That(got, Is.EqualTo(first), what + ": not the same bits as v1");
            }
        }
        finally { gpu.Versions.Pin(Engine.Kernels.Embedding.EmbeddingOps.Backward, 0); }
    }

    [Test]
    public void PtxOfTheLoadedKernelsIsWritten()
    {
        foreach (var c in MatmulOps.MatMul.Cases(Sizes.One, new Random(1))) Harness.Check(c, 2, cpu, gpu);
        string dir = Path.Combine(Path.GetTempPath(), "engine-ptx-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var files = Engine.Kernels.Gpu.PtxDump.Write(gpu.Launch.Loaded, dir);
            var matmul = files.Single(f => Path.GetFileName(f) == "MatmulGpu.Kernel.ptx");
            string ptx = File.ReadAllText(matmul);
            Assert.That(ptx, Does.Contain(".entry").And.Contain(".target sm_80").And.Contain(".shared"),
                "a grouped kernel with shared memory");
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Test]
    public void EnvironmentAndPinChooseTheVersion()
    {
        var matmul = MatmulOps.MatMul;
        Assert.That(new KernelChoice().Of(matmul), Is.EqualTo(matmul.Default));
        try
        {
            Environment.SetEnvironmentVariable(matmul.EnvironmentVariable, "1");
            var choice = new KernelChoice();
            Assert.That(choice.Of(matmul), Is.EqualTo(1));
            choice.Pin(matmul, 2);
            Assert.That(choice.Of(matmul), Is.EqualTo(2));
            Environment.SetEnvironmentVariable(matmul.EnvironmentVariable, "42");   // no such version (9 exists now)
            Assert.That(() => new KernelChoice().Of(matmul),
                Throws.ArgumentException.With.Message.Contains("matmul has versions 1 (naive)"));
            Assert.That(() => choice.Pin(matmul, 99), Throws.ArgumentException);
        }
        finally { Environment.SetEnvironmentVariable(matmul.EnvironmentVariable, null); }
        Assert.That(matmul.EnvironmentVariable, Is.EqualTo("ENGINE_KERNEL_MATMUL"));
    }
}
