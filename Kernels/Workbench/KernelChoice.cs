namespace Engine.Kernels.Workbench;

/// <summary>
/// The version of each op a GPU backend runs: the op's default (its best measured version), unless
/// the environment variable ENGINE_KERNEL_&lt;OP&gt;=N names another, unless <see cref="Pin"/> does.
/// An op whose backend picks its version by shape (matmul: MatmulOps.Choose) asks <see cref="Explicit"/> first.
/// </summary>
public sealed class KernelChoice
{
    readonly Dictionary<string, int> pinned = [];
    readonly Dictionary<string, int?> fromEnvironment = [];

    public int Of(OpDeclaration op) => Explicit(op) ?? op.Default;

    /// <summary>The version pinned with <see cref="Pin"/> or named by ENGINE_KERNEL_&lt;OP&gt; (read once), or
    /// null.</summary>
    public int? Explicit(OpDeclaration op)
    {
        lock (pinned)
        {
            if (pinned.TryGetValue(op.Name, out int v)) return v;
            if (fromEnvironment.TryGetValue(op.Name, out int? e)) return e;
            string? env = Environment.GetEnvironmentVariable(op.EnvironmentVariable);
            int? chosen = env is null ? null
                : int.TryParse(env, out int n) ? Checked(op, n, op.EnvironmentVariable)
                : throw new ArgumentException($"{op.EnvironmentVariable}={env}: expected a version number of {op.Name}");
            fromEnvironment[op.Name] = chosen;
            return chosen;
        }
    }

    /// <summary>Runs <paramref name="op"/> with version <paramref name="version"/> from now on (0: back to the
    /// default).</summary>
    public void Pin(OpDeclaration op, int version)
    {
        lock (pinned)
        {
            if (version == 0) pinned.Remove(op.Name);
            else pinned[op.Name] = Checked(op, version, "version");
        }
    }

    static int Checked(OpDeclaration op, int version, string source) =>
        op.Versions.Any(v => v.Number == version) ? version
            : throw new ArgumentException($"{source} {version}: {op.Name} has versions " +
                                          string.Join(", ", op.Versions.Select(v => $"{v.Number} ({v.Name})")));
}
