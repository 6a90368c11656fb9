namespace Engine.Kernels.Workbench;

/// <summary>
/// The version of each op a GPU backend runs: the op's default (its best measured version), unless
/// the environment variable ENGINE_KERNEL_&lt;OP&gt;=N names another, unless <see cref="Pin"/> does.
/// </summary>
public sealed class KernelChoice
{
    readonly Dictionary<string, int> chosen = [];

    public int Of(OpDeclaration op)
    {
        lock (chosen)
        {
            if (chosen.TryGetValue(op.Name, out int v)) return v;
            string? env = Environment.GetEnvironmentVariable(op.EnvironmentVariable);
            v = env is null ? op.Default
                : int.TryParse(env, out int n) ? Checked(op, n, op.EnvironmentVariable)
                : throw new ArgumentException($"{op.EnvironmentVariable}={env}: expected a version number of {op.Name}");
            chosen[op.Name] = v;
            return v;
        }
    }

    /// <summary>Runs <paramref name="op"/> with version <paramref name="version"/> from now on (0: back to the default).</summary>
    public void Pin(OpDeclaration op, int version)
    {
        lock (chosen)
        {
            if (version == 0) chosen.Remove(op.Name);
            else chosen[op.Name] = Checked(op, version, "version");
        }
    }

    static int Checked(OpDeclaration op, int version, string source) =>
        op.Versions.Any(v => v.Number == version) ? version
            : throw new ArgumentException($"{source} {version}: {op.Name} has versions " +
                                          string.Join(", ", op.Versions.Select(v => $"{v.Number} ({v.Name})")));
}
