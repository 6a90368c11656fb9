using System.Diagnostics;
using System.Text.RegularExpressions;
using Engine.Kernels.Attention;
using Engine.Kernels.Gpu;
using Engine.Kernels.Matmul;
using ILGPU;
using ILGPU.Runtime.Cuda;
using NUnit.Framework;

namespace Engine.Tests;

/// <summary>
/// ENGINE_ILGPU_OPT_KERNEL (KernelLevels): the list names kernels as `Bench ptx` does and is refused with one line
/// when it names none; a listed kernel compiles at its own level. Loading that PTX into a CUDA accelerator is the
/// one step only a GPU can check (tools/gpu/first.sh's `levels` part).
/// </summary>
public class KernelLevelsTests
{
    [Test]
    public void TheListNamesKernelsAndLevels()
    {
        var levels = KernelLevels.Parse(" MatmulTiledGpu.Kernel=O2, AttentionForwardV3.Kernel = O1 ");
        Assert.That(levels, Has.Count.EqualTo(2));
        var (tiled, forward) = (Method(typeof(MatmulTiledGpu)), Method(typeof(AttentionForwardV3)));
        Assert.That(levels[tiled], Is.EqualTo(OptimizationLevel.O2));
        Assert.That(levels[forward], Is.EqualTo(OptimizationLevel.O1));
        Assert.That(KernelLevels.Parse(null), Is.Empty);
        Assert.That(KernelLevels.Parse(""), Is.Empty);
    }

    static System.Reflection.MethodInfo Method(Type type) =>
        type.GetMethods(System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public |
                        System.Reflection.BindingFlags.NonPublic).Single(m => m.Name == "Kernel");

    [TestCase("MatmulTiledGpu.Kernel", "is not Type.Method")]
    [TestCase("MatmulTiledGpu.Kernel=O3", "expected O0, O1 or O2")]
    [TestCase("MatmulTiledGpu.Kernels=O2", "no kernel MatmulTiledGpu.Kernels")]
    [TestCase("Kernel=O2", "is not Type.Method")]
    [TestCase("NoSuchType.Kernel=O1", "no kernel NoSuchType.Kernel")]
    public void AWrongListIsRefusedByName(string text, string message)
    {
        Assert.That(() => KernelLevels.Parse(text),
            Throws.ArgumentException.With.Message.Contains(message).And.Message.Contains("ENGINE_ILGPU_OPT_KERNEL"));
    }

    [Test]
    public void AListedKernelCompilesAtItsOwnLevel()
    {
        // ILGPU's O2 infers address spaces, O1 leaves generic loads: the tiled GEMM's 128-bit operand loads are
        // ld.global.v4 only at O2. So which level compiled it shows in the PTX.
        var method = Method(typeof(MatmulTiledGpu));
        string o1 = PtxDump.Compile(method, true, OptimizationLevel.O1, CudaArchitecture.SM_80,
            CudaInstructionSet.ISA_80).PTXAssembly;
        string o2 = PtxDump.Compile(method, true, OptimizationLevel.O2, CudaArchitecture.SM_80,
            CudaInstructionSet.ISA_80).PTXAssembly;
        int Global(string ptx) => Regex.Matches(ptx, @"\bld\.global\.").Count;
        Assert.That(o1, Does.Contain(".entry"));
        Assert.That(Global(o2), Is.GreaterThan(Global(o1)), $"ld.global: O1 {Global(o1)}, O2 {Global(o2)}");
    }

    [Test]
    public void TheEngineRefusesAWrongListWithOneLine()
    {
        string run = Path.Combine(Path.GetTempPath(), "engine-levels-" + Guid.NewGuid().ToString("N")[..8]);
        var psi = CliTests.StartInfo(null, "pretrain", "--device", "ilgpu-cpu", "--model", "micro", "--steps", "1",
            "--out", run);
        psi.Environment[KernelLevels.Variable] = "MatmulTiledGpu.Kernel=O5";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardInput.Close();
        if (!p.WaitForExit(120_000)) { p.Kill(true); Assert.Fail("engine did not finish in 120 s"); }
        if (Directory.Exists(run)) Directory.Delete(run, true);
        CliTests.AssertOneLineError((p.ExitCode, stdout.Result, stderr.Result), "ENGINE_ILGPU_OPT_KERNEL");
    }
}
