using System.Reflection;
using Engine.Kernels.Attention;
using Engine.Kernels.Matmul;

namespace Engine.Kernels.Gpu;

/// <summary>
/// The kernels that issue tensor-core PTX (<c>mma.sync</c>), by a short name, for the offline PTX check
/// (<c>Bench ptx</c>, tools/gpu/ptxas-offline.sh) and the structural test that their PTX holds no local memory.
/// Kernel methods are private to their files; reflection finds them by name so the files keep their shape.
/// </summary>
public static class TensorCoreKernels
{
    /// <summary>(name, kernel method, explicitly grouped) for every tensor-core kernel.</summary>
    public static IReadOnlyList<(string Name, MethodInfo Method, bool Grouped)> All { get; } =
    [
        ("matmul-v5-tf32", Find(typeof(MatmulTf32Gpu), "Kernel"), true),
        ("matmul-v6-3xtf32", Find(typeof(Matmul3xTf32Gpu), "Kernel"), true),
        ("attention-fwd-v3", Find(typeof(AttentionForwardV3), "Kernel"), true),
        ("attention-bwd-v3-kv", Find(typeof(AttentionBackwardV3), "KeyValueKernel"), true),
        ("attention-bwd-v3-q", Find(typeof(AttentionBackwardV3), "QueryKernel"), true),
    ];

    static MethodInfo Find(Type type, string name) =>
        type.GetMethod(name, BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)
        ?? throw new MissingMethodException(type.FullName, name);

    /// <summary>Writes DIR/&lt;name&gt;.ptx for the kernels whose names are listed (all when none are); returns
    /// (name, file) pairs.</summary>
    public static IReadOnlyList<(string Name, string File)> Write(string dir, IReadOnlyCollection<string>? names = null)
    {
        var chosen = All.Where(k => names is null || names.Count == 0 || names.Contains(k.Name)).ToList();
        if (names is not null && names.Count > 0 && chosen.Count != names.Count)
            throw new ArgumentException($"unknown kernel name; known: {string.Join(", ", All.Select(k => k.Name))}");
        var result = new List<(string, string)>();
        foreach (var k in chosen)
        {
            string file = PtxDump.Write([(k.Method, k.Grouped)], dir).Single();
            string named = Path.Combine(dir, k.Name + ".ptx");
            File.Move(file, named, overwrite: true);
            result.Add((k.Name, named));
        }
        return result;
    }
}
