using System.Runtime.InteropServices;

namespace Engine.Training;

/// <summary>
/// Ctrl-C and SIGTERM. Outside a training loop they stop the process at once (exit 130 / 143).
/// Inside one (<see cref="Defer"/>), the first signal only sets <see cref="Requested"/>: the loop
/// finishes its step, writes a checkpoint and throws <see cref="InterruptedException"/>; a second
/// signal exits at once.
/// </summary>
public static class Interrupt
{
    static int signals, deferring;
    static readonly List<PosixSignalRegistration> registrations = [];

    /// <summary>The exit code the shell would report for the first signal: 128 + its number.</summary>
    public static int ExitCode { get; private set; } = 130;

    public static bool Requested => Volatile.Read(ref signals) > 0 && Volatile.Read(ref deferring) > 0;

    public static void Install()
    {
        if (registrations.Count > 0) return;
        registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle));
        registrations.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle));
    }

    /// <summary>While the returned scope is open, the first signal asks the loop to stop after its step.</summary>
    public static IDisposable Defer()
    {
        Interlocked.Increment(ref deferring);
        return new Scope();
    }

    sealed class Scope : IDisposable
    {
        bool done;
        public void Dispose() { if (!done) { done = true; Interlocked.Decrement(ref deferring); } }
    }

    static void Handle(PosixSignalContext context)
    {
        context.Cancel = true;          // the runtime's default would end the process before we save
        int n = Interlocked.Increment(ref signals);
        if (n == 1) ExitCode = context.Signal == PosixSignal.SIGTERM ? 143 : 130;
        if (n == 1 && Volatile.Read(ref deferring) > 0)
        {
            if (!Distributed.Dist.LaunchedAsOtherRank)       // mpirun signals every rank: rank 0 says it once
                Console.Error.WriteLine("engine: interrupted: finishing this step and writing a checkpoint " +
                    "(interrupt again to stop now)");
        }
        else
        {
            Console.Error.WriteLine(n == 1 ? "engine: interrupted" : "engine: interrupted again: stopping now, without a checkpoint");
            Environment.Exit(ExitCode);
        }
    }
}

/// <summary>A training loop stopped on request after step <see cref="Step"/>; its state is in <see cref="Checkpoint"/>.</summary>
public sealed class InterruptedException(int step, string checkpoint, bool resumable)
    : Exception($"interrupted after step {step}")
{
    public int Step { get; } = step;
    public string Checkpoint { get; } = checkpoint;
    public bool Resumable { get; } = resumable;
}
