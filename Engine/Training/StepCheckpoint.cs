using Engine.Distributed;

namespace Engine.Training;

/// <summary>
/// The end-of-step checkpoint rule the trainers share: checkpoint-N every SaveEvery steps, and one when
/// Ctrl-C or SIGTERM asked the run to stop (the same folder when both fall on one step), after which
/// the run stops with <see cref="InterruptedException"/>. Nothing after the last step: final/ follows.
/// </summary>
public static class StepCheckpoint
{
    /// <summary>
    /// The checkpoint written after <paramref name="step"/>, or null; <paramref name="save"/> writes it and
    /// names its folder.
    /// </summary>
    public static string? After(int step, int steps, int saveEvery, Func<string> save)
    {
        if (step + 1 >= steps) return null;
        string? saved = saveEvery > 0 && (step + 1) % saveEvery == 0 ? save() : null;
        // Under mpirun a signal may reach the ranks in different steps: they agree, so that all stop after this one.
        if (Shard.AnyRank(Interrupt.Requested, $"the stop check after step {step + 1}"))
            throw new InterruptedException(step + 1, saved ?? save(), resumable: true);
        return saved;
    }
}
