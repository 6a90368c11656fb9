namespace Engine.Distributed;

/// <summary>
/// The process's place in a data-parallel run. `mpirun -np N engine VERB ...` starts N ranks: MPICH's launcher
/// (Hydra) gives each PMI_RANK/PMI_SIZE, and <see cref="Start"/> then initialises MPI. Run directly, nothing here
/// loads MPI and every property reads as rank 0 of 1. Rank 0 alone prints to stdout and writes files.
/// </summary>
public static class Dist
{
    /// <summary>MPI_COMM_WORLD, or null in a run that mpirun did not start.</summary>
    public static Communicator? World { get; private set; }
    public static bool Active => World is not null;
    public static int Rank => World?.Rank ?? 0;
    public static int Size => World?.Size ?? 1;
    public static bool IsRoot => Rank == 0;

    /// <summary>Started by mpirun as a rank other than 0 (read before MPI starts: for command-line errors).</summary>
    public static bool LaunchedAsOtherRank => Environment.GetEnvironmentVariable("PMI_RANK") is { } r && r != "0";

    /// <summary>This rank's index among the ranks on its machine (Hydra's MPI_LOCALRANKID): which GPU it
    /// takes.</summary>
    public static int LocalRank =>
        int.TryParse(Environment.GetEnvironmentVariable("MPI_LOCALRANKID"), out int r) ? r : 0;

    /// <summary>Default seconds a collective waits for the other ranks (ENGINE_DIST_TIMEOUT overrides): long enough
    /// for a slow rank's sampling or checkpoint, short enough that a hung job ends.</summary>
    public const int DefaultTimeoutSeconds = 600;

    /// <summary>Joins the run when mpirun started this process; otherwise does nothing.</summary>
    public static void Start()
    {
        if (Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is not null)
            throw new NotSupportedException("mpirun: this is Open MPI, whose C handles the engine cannot use; " +
                "launch with MPICH's mpirun (apt-get install mpich) or another MPICH-ABI MPI (Intel MPI, MVAPICH)");
        if (Environment.GetEnvironmentVariable("PMI_SIZE") is null || Active) return;
        string? limit = Environment.GetEnvironmentVariable("ENGINE_DIST_TIMEOUT");
        int seconds = DefaultTimeoutSeconds;
        if (limit is not null && (!int.TryParse(limit, out seconds) || seconds < 1))
            throw new ArgumentException($"ENGINE_DIST_TIMEOUT={limit}: expected whole seconds >= 1");
        var mpi = MpiNative.Load();
        unsafe
        {
            int rank, size;
            Check(mpi, mpi.Init(null, 0), "MPI_Init");
            // Errors come back as codes (we turn them into one error line) instead of MPI's default abort.
            Check(mpi, mpi.CommSetErrhandler(MpiNative.CommWorld, MpiNative.ErrorsReturn), "MPI_Comm_set_errhandler");
            Check(mpi, mpi.CommRank(MpiNative.CommWorld, &rank), "MPI_Comm_rank");
            Check(mpi, mpi.CommSize(MpiNative.CommWorld, &size), "MPI_Comm_size");
            World = new Communicator(mpi, rank, size, TimeSpan.FromSeconds(seconds));
        }
        Kernels.Gpu.GpuDevice.CudaOrdinal = LocalRank;
        // N copies of every banner and progress line would bury the run's output: rank 0 speaks for all.
        if (Rank > 0) Console.SetOut(TextWriter.Null);
        Console.WriteLine($"distributed: {Size} ranks (MPI), rank 0 writes metrics and checkpoints");
    }

    static void Check(MpiNative mpi, int code, string call)
    {
        if (code != MpiNative.Success) throw new IOException($"{call} failed: {mpi.Describe(code).Trim()}");
    }

    /// <summary>
    /// Ends this rank's part: a clean exit (0, or a stop every rank agreed on, as an interrupt) finalises MPI; a
    /// failure aborts the job, so that the other ranks, waiting in a collective for this one, stop too.
    /// </summary>
    public static void Finish(int exitCode, bool agreed)
    {
        if (World is not { } world) return;
        World = null;
        Console.Out.Flush();
        Console.Error.Flush();
        if (exitCode == 0 || agreed) world.Close();
        else
        {
            // The launcher forwards our stderr through its proxy, and the abort kills the proxy: give the error
            // line time to get out first.
            Thread.Sleep(500);
            world.Abort(exitCode);
        }
    }

    /// <summary>
    /// Writes a failure's line. Rank 0's goes out at once; another rank's waits two seconds first, because an error
    /// every rank meets (a bad option, a missing file) would otherwise print N times: rank 0 reports it and its
    /// abort ends the others before they speak. A failure of this rank alone is still reported, named by rank.
    /// </summary>
    public static void ReportError(string message)
    {
        if (World is { Rank: > 0 } world)
        {
            Thread.Sleep(2000);
            Console.Error.WriteLine($"engine: error: rank {world.Rank}: {message}");
        }
        else Console.Error.WriteLine($"engine: error: {message}");
    }
}
