using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Engine.Kernels.Gpu;

/// <summary>
/// ILGPU's optimisation level per kernel, on CUDA: ENGINE_ILGPU_OPT sets one level for a whole context, but the
/// level that suits a kernel differs by kernel (a throwaway probe on an H100 saw up to 2× either way: O2's
/// ld.global against O1's generic loads, O2's register pressure against O1's). ENGINE_ILGPU_OPT_KERNEL lists
/// exceptions as <c>Type.Method=O2</c>, comma-separated, named as `Bench ptx` names its files
/// (e.g. <c>MatmulUnrolledGpu.Kernel=O1,AttentionForwardV2.Kernel=O1</c>); those explicitly grouped kernels are
/// compiled by a PTX backend of their own at that level and loaded into the device's accelerator, the rest at the
/// context's level. Other devices (ILGPU's CPU accelerator runs no PTX) ignore the list, after checking it.
/// </summary>
public static class KernelLevels
{
    public const string Variable = "ENGINE_ILGPU_OPT_KERNEL";

    /// <summary>The list in <see cref="Variable"/> (empty when unset); ArgumentException names what is wrong.</summary>
    public static IReadOnlyDictionary<MethodInfo, OptimizationLevel> FromEnvironment() =>
        Parse(Environment.GetEnvironmentVariable(Variable));

    public static IReadOnlyDictionary<MethodInfo, OptimizationLevel> Parse(string? text)
    {
        var levels = new Dictionary<MethodInfo, OptimizationLevel>();
        if (string.IsNullOrWhiteSpace(text)) return levels;
        foreach (string item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = item.Split('=', StringSplitOptions.TrimEntries);
            if (parts.Length != 2)
                throw new ArgumentException($"{Variable}: '{item}' is not Type.Method=O0|O1|O2");
            var level = GpuDevice.Level(parts[1]) ??
                        throw new ArgumentException($"{Variable}: '{parts[1]}' in '{item}': expected O0, O1 or O2");
            levels[Kernel(parts[0], item)] = level;
        }
        return levels;
    }

    /// <summary>The static method Type.Method of this assembly's kernels; refused when absent or overloaded.</summary>
    static MethodInfo Kernel(string name, string item)
    {
        int dot = name.LastIndexOf('.');
        if (dot <= 0 || dot == name.Length - 1)
            throw new ArgumentException($"{Variable}: '{item}' is not Type.Method=O0|O1|O2");
        string typeName = name[..dot], methodName = name[(dot + 1)..];
        const BindingFlags statics = BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;
        var methods = typeof(KernelLevels).Assembly.GetTypes()
            .Where(t => t.Name == typeName)
            .SelectMany(t => t.GetMethods(statics).Where(m => m.Name == methodName && m.ReturnType == typeof(void)))
            .ToList();
        return methods.Count switch
        {
            1 => methods[0],
            0 => throw new ArgumentException($"{Variable}: no kernel {name} (names as `Bench ptx` writes them)"),
            _ => throw new ArgumentException($"{Variable}: {name} names {methods.Count} methods"),
        };
    }

    /// <summary>The kernel at its listed level, as the stream-taking launcher ILGPU's LoadKernel gives
    /// (<c>Action&lt;AcceleratorStream, KernelConfig, ...&gt;</c>); null where the list does not apply.</summary>
    public static TLauncher? Load<TLauncher>(Accelerator accelerator, MethodInfo method,
        IReadOnlyDictionary<MethodInfo, OptimizationLevel> levels) where TLauncher : Delegate
    {
        if (accelerator is not CudaAccelerator cuda || !levels.TryGetValue(method, out var level)) return null;
        var compiled = PtxDump.Compile(method, grouped: true, level, cuda.Architecture, cuda.InstructionSet);
        return cuda.LoadKernel(compiled).CreateLauncherDelegate<TLauncher>();
    }
}
