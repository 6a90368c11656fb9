namespace Engine.Training;

/// <summary>Linear warm-up to the peak, then cosine decay to minRatio·peak at the last step (nanoGPT's schedule).</summary>
public sealed record LrSchedule(float Peak, int WarmupSteps, int TotalSteps, float MinRatio = 0.1f)
{
    public float At(int step)   // step counts from 0
    {
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        if (TotalSteps <= WarmupSteps) return Peak;
        double progress = Math.Min(1.0, (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - 1 - WarmupSteps));
        double cosine = 0.5 * (1 + Math.Cos(Math.PI * progress));
        return (float)(Peak * (MinRatio + (1 - MinRatio) * cosine));
    }
}
