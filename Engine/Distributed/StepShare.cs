namespace Engine.Distributed;

/// <summary>
/// A rank's part in one optimiser step of a batch-mean loss (the reward model's): its loss and gradient are the mean
/// over its share of the batch times <see cref="Weight"/> (its share of the batch), so the ranks' parts sum to one
/// process's mean over the whole batch; <see cref="Reduce"/> sums the gradients (one all-reduce) and the figures.
/// </summary>
public sealed class StepShare(float weight, GradientAllReduce? sync, int step)
{
    public float Weight => sync is null ? 1f : weight;

    /// <summary>The gradients summed over the ranks; returns the step's loss and accuracy over the whole
    /// batch.</summary>
    public (float Loss, float Accuracy) Reduce(float loss, float accuracy)
    {
        if (sync is null) return (loss, accuracy);
        var sum = sync.Run([loss * weight, accuracy * weight], $"the gradient all-reduce of step {step}");
        return (sum[0], sum[1]);
    }
}
