using System.Text.RegularExpressions;
using Engine.Kernels.Gpu;
using ILGPU;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// Structural check of the tensor-core kernels' PTX, no GPU needed (ILGPU's PTX backend runs anywhere): the kernels
/// meant to keep their MMA state in registers must have no local memory in their PTX (no <c>.local</c> depot, no
/// <c>ld.local</c>/<c>st.local</c>), at ILGPU's O1 and O2, and must declare their named
/// registers before using them. Local memory there is what cost the first tensor-core versions their speed (the
/// operands of <c>CudaAsm.EmitRef</c> round-trip through it). Whether ptxas then keeps everything in registers
/// (stack frame, spills) is tools/gpu/ptxas-offline.sh's job; this test is the cheap guard.
/// </summary>
public class TensorCorePtxTests
{
    static readonly Regex Local = new(@"\.local\b|\b(ld|st)\.local\b", RegexOptions.Compiled);

    // Both levels ENGINE_ILGPU_OPT offers: about 5 s on 2 idle cores for the three kernels at both (15 s when the
    // cores are shared with two other test runs).
    static readonly OptimizationLevel[] Levels = [OptimizationLevel.O1, OptimizationLevel.O2];

    static IEnumerable<TestCaseData> Cases(string check) =>
        from k in TensorCoreKernels.All
        where k.RegisterResident
        from level in Levels
        select new TestCaseData(k.Name, level)
            .SetName($"TensorCorePtx_{k.Name}_{(level == OptimizationLevel.O1 ? "O1" : "O2")}_{check}");

    static IEnumerable<TestCaseData> NoLocal() => Cases("HasNoLocalMemory");
    static IEnumerable<TestCaseData> Declared() => Cases("DeclaresBeforeUse");

    // One ILGPU context per level for all kernels of the run: compiling is the test's whole cost.
    static readonly Dictionary<OptimizationLevel, Dictionary<string, string>> Compiled = [];

    static string Ptx(string name, OptimizationLevel level)
    {
        lock (Compiled)
        {
            if (!Compiled.TryGetValue(level, out var byName))
            {
                var kernels = TensorCoreKernels.All.Where(k => k.RegisterResident).ToList();
                var ptx = PtxDump.Compile(kernels.Select(k => (k.Method, k.Grouped)), level);
                Compiled[level] = byName = kernels.Select((k, i) => (k.Name, ptx[i].Ptx))
                    .ToDictionary(x => x.Name, x => x.Ptx);
            }
            return byName[name];
        }
    }

    [TestCaseSource(nameof(NoLocal))]
    public void RegisterResidentKernelHasNoLocalMemory(string name, OptimizationLevel level)
    {
        string ptx = Ptx(name, level);
        Assert.That(ptx, Does.Contain("mma.sync.aligned.m16n8k8"), "the kernel issues tensor-core MMAs");
        var hits = ptx.Split('\n').Where(l => Local.IsMatch(l)).ToList();
        Assert.That(hits, Is.Empty, $"{name} at {level}: {hits.Count} PTX lines use local memory, e.g. " +
                                    string.Join(" | ", hits.Take(3).Select(h => h.Trim())));
    }

    static readonly Regex Declaration = new(@"\.reg \.\w+ (t[a-z]+)<\d+>;", RegexOptions.Compiled);

    [TestCaseSource(nameof(Declared))]
    public void RegistersAreDeclaredBeforeTheirFirstUse(string name, OptimizationLevel level)
    {
        // PTX wants a declaration before any use in the text; ILGPU places the block that declares them first only
        // if it dominates the blocks that use them (ptxas otherwise fails with "Arguments mismatch").
        string ptx = Ptx(name, level);
        var declared = Declaration.Matches(ptx).ToList();
        Assert.That(declared, Is.Not.Empty, "declares named registers");
        foreach (var d in declared)
        {
            var used = new Regex($@"\b{d.Groups[1].Value}0\b").Match(ptx);   // declared but unused (v8's tcal): fine
            if (used.Success)
                Assert.That(used.Index, Is.GreaterThan(d.Index), $"{d.Groups[1].Value}0 is used after its declaration");
        }
    }

    static readonly Regex SharedArray = new(@"\.shared \.align (\d+) \.b8 (\w+)\[(\d+)\];", RegexOptions.Compiled);

    [TestCase("matmul-v10-tf32-async")]
    [TestCase("matmul-v11-3xtf32-async")]
    public void AsyncGemmHasTheSharedArrayItsPtxNames(string name)
    {
        // v10/v11's cp.async and ldmatrix address the group's shared array by the name ILGPU gives it
        // (__shared_alloca0, undocumented): it must be the only one, 16-byte aligned, 3 stages of 16 KB.
        foreach (var level in Levels)
        {
            string ptx = Ptx(name, level);
            var arrays = SharedArray.Matches(ptx).Select(m => (m.Groups[2].Value, int.Parse(m.Groups[1].Value),
                int.Parse(m.Groups[3].Value))).ToList();
            Assert.That(arrays, Is.EqualTo(new[] { ("__shared_alloca0", 16, 3 * 16384) }), $"{level}");
            Assert.That(ptx, Does.Contain("cp.async.cg.shared.global").And.Contain("cp.async.wait_group 1;")
                .And.Contain("ldmatrix.sync.aligned.m8n8.x4.shared.b16"), $"{level}");
        }
    }

    [Test]
    public void GeneratedPtxConstantsAreCurrent()
    {
        foreach (var f in PtxText.Files)
            Assert.That(PtxText.Stale(f), Is.Empty,
                $"{f.Path} is stale: run tools/gpu/ptx-text.sh (dotnet Bench.dll ptx --generate-text ROOT)");
    }

    // One MMA through TensorCore.Mma, whose EmitRef operands ILGPU lowers through local memory (as v5/v6 and the
    // attention v3/v4 kernels do).
    static void EmitRefKernel(ArrayView<float> x)
    {
        var c = new FragC { C0 = x[0] };
        TensorCore.Mma(new FragA { A0 = x[1] }, new FragB { B0 = x[2] }, ref c);
        x[0] = c.C0;
    }

    [Test]
    public void TheCheckSeesTheLocalMemoryOfEmitRef()
    {
        // The check above is not vacuous: a kernel that passes MMA operands through EmitRef fails it.
        var method = typeof(TensorCorePtxTests).GetMethod(nameof(EmitRefKernel),
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        string ptx = PtxDump.Compile([(method, true)], OptimizationLevel.O1).Single().Ptx;
        Assert.That(ptx.Split('\n').Count(l => Local.IsMatch(l)), Is.GreaterThan(0));
    }
}
