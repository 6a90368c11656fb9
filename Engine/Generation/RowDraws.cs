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

/// <summary>
/// Draws that can be read ahead: the device-resident decode loop uploads the uniforms of several steps at once,
/// before it knows which rows will finish among them, then takes only those the steps used. Together, Peek and
/// Advance give exactly the sequence that Next would have, step by step.
/// </summary>
public interface IAheadDraws : IRowDraws
{
    /// <summary>The next count uniforms of the sequence, without consuming them.</summary>
    double[] Peek(int count);

    /// <summary>Consumes the next count uniforms.</summary>
    void Advance(int count);
}

/// <summary>The uniforms straight from one generator, in row order.</summary>
public sealed class LocalDraws(Rng rng) : IAheadDraws
{
    public double[] Peek(int count)
    {
        string state = rng.State;
        var u = new double[count];
        for (int i = 0; i < count; i++) u[i] = rng.NextDouble();
        rng.State = state;
        return u;
    }

    public void Advance(int count)
    {
        for (int i = 0; i < count; i++) rng.NextDouble();
    }

    public double[] Next(bool[] need)
    {
        var u = new double[need.Length];
        for (int i = 0; i < need.Length; i++) if (need[i]) u[i] = rng.NextDouble();
        return u;
    }

    public void Finish() { }
}
