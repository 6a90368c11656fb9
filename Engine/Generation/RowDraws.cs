namespace Engine.Generation;

/// <summary>
/// Where the generator's sampling uniforms come from: one per row that draws at a decoding step (unfinished, not
/// forced, temperature above 0), in row order. <see cref="LocalDraws"/> takes them from the run's generator; a
/// data-parallel run's ranks share one sequence across their rows (Engine.Distributed.SharedDraws), so that the
/// ranks together draw exactly what one process with all the rows would.
/// </summary>
public interface IRowDraws
{
    /// <summary>A uniform in [0, 1) for each row with need[row]; 0 for the others.</summary>
    double[] Next(bool[] need);

    /// <summary>Called once when this process's rows have all finished.</summary>
    void Finish();
}

/// <summary>The uniforms straight from one generator, in row order.</summary>
public sealed class LocalDraws(Rng rng) : IRowDraws
{
    public double[] Next(bool[] need)
    {
        var u = new double[need.Length];
        for (int i = 0; i < need.Length; i++) if (need[i]) u[i] = rng.NextDouble();
        return u;
    }

    public void Finish() { }
}
