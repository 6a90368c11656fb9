namespace Engine.Kernels.Workbench;

/// <summary>What a case's work is counted in: floating-point operations or bytes moved.</summary>
public enum WorkUnit { Flops, Bytes }

/// <summary>
/// The shapes a case is built at. <see cref="Small"/>: odd sizes off every tile, for tests on ILGPU's
/// CPU accelerator; <see cref="One"/>: single rows and T = 1; <see cref="Large"/>: the benchmark shapes
/// (GPT-2-sized rows, 4096³ GEMM, T = 1024 attention, GPT-2's vocabulary).
/// </summary>
public sealed record Sizes(string Name, int Gemm, int Rows, int Cols, int Batch, int Steps, int Heads, int KvHeads, int HeadDim,
    int Vocab, int Tokens)
{
    public static readonly Sizes Small = new("small", 37, 7, 33, 2, 5, 4, 2, 8, 50, 6);
    public static readonly Sizes One = new("one", 1, 1, 1, 1, 1, 2, 1, 2, 3, 1);
    public static readonly Sizes Large = new("large", 4096, 8192, 4096, 2, 1024, 8, 8, 64, 50257, 2048);

    public int Elements => Rows * Cols;
}

/// <summary>
/// One run of one primitive: fresh host inputs (float arrays, uploaded to each backend), the indices
/// of the buffers that hold its results, how to call it on a backend, and its work for rates.
/// Integer inputs (ids, targets, positions) are captured by <see cref="Run"/>.
/// </summary>
public sealed record OpCase(string Op, string Primitive, string Shape, double Work, WorkUnit Unit,
    float[][] Inputs, int[] Outputs, Action<IBackend, DeviceBuffer[]> Run);

/// <summary>One GPU implementation of an op: v1 is the plain port of the CPU reference, later ones are faster.
/// <paramref name="Wide"/>: needs 32-lane warps and 256-thread groups (tested on the 32-wide CPU accelerator).
/// <paramref name="Tolerance"/>: the largest relative error against the fp32 CPU reference that the tests accept
/// (1e-4; looser only for versions that compute in lower precision on purpose, e.g. TF32).
/// <paramref name="Precision"/>: how it multiplies (fp32, tf32, 3xtf32), for the benchmark tables.</summary>
public sealed record KernelVersion(int Number, string Name, string Description, bool Wide = false,
    double Tolerance = 1e-4, string Precision = "fp32");

/// <summary>
/// An op as the workbench sees it: its name (as in ENGINE_KERNEL_&lt;OP&gt; and `Bench kernels --op`),
/// the IBackend primitive it implements, its GPU versions and the default one, and its cases.
/// </summary>
public sealed record OpDeclaration(string Name, string Primitive, IReadOnlyList<KernelVersion> Versions, int Default,
    Func<Sizes, Random, IEnumerable<OpCase>> Cases)
{
    /// <summary>An op with its one GPU kernel so far.</summary>
    public static OpDeclaration Single(string name, string primitive, string kernel, Func<Sizes, Random, IEnumerable<OpCase>> cases) =>
        new(name, primitive, [new KernelVersion(1, "v1", kernel)], 1, cases);

    public string EnvironmentVariable => "ENGINE_KERNEL_" + Name.ToUpperInvariant().Replace('-', '_');
}

/// <summary>Random inputs for cases.</summary>
public static class CaseData
{
    public static float[] Uniform(Random rng, int n, float scale = 1f)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return x;
    }

    public static float[] Positive(Random rng, int n, float low = 0.1f, float high = 1f)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = low + (float)rng.NextDouble() * (high - low);
        return x;
    }

    public static float[] Mask(Random rng, int n, double ones = 0.8)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = rng.NextDouble() < ones ? 1f : 0f;
        if (n > 0) x[0] = 1f;                                   // never an all-zero mask
        return x;
    }

    public static int[] Ints(Random rng, int n, int below)
    {
        var x = new int[n];
        for (int i = 0; i < n; i++) x[i] = rng.Next(below);
        return x;
    }

    public static double Bytes(int arrays, long count) => 4.0 * arrays * count;
}
