using Engine.RL;

namespace Engine.Autograd;

public static partial class Ops
{
    /// <summary>
    /// The RL policy loss as an autograd op, like <see cref="CrossEntropy"/>: logits [B·T, V] of the
    /// sampled ids, with old log-probs, advantages and mask [B·T] (and the reference's log-probs for a
    /// KL term) give the aggregated clipped objective Σ w·(pg + β·k3 − c·H) (docs/rl-math.md) and the
    /// figures the trainers log. The fused kernel computes the loss and its gradient in one pass and
    /// writes dlogits over the logits buffer — their values are not needed again (the LM head's backward
    /// reads its inputs) — so the backward only scales them and hands them to the logits as their gradient.
    /// </summary>
    public static (Tensor Loss, FusedLossResult Stats) PolicyLoss(Tensor logits, int[] ids, float[] oldLogp, float[] advantages,
        float[] mask, float[]? refLogp, int batch, int steps, FusedLossOptions options, float tokenDenominator = 0f)
    {
        var be = logits.Backend;
        bool track = GradMode.Enabled && logits.RequiresGrad;
        var dlogits = track ? logits.Data : New(logits, logits.Size);
        var stats = FusedPolicy.Run(be, logits.Data, dlogits, ids, oldLogp, advantages, mask, refLogp, batch, steps, Cols(logits),
            options, tokenDenominator);
        var y = New(logits, 1);
        y.CopyFrom([stats.Loss]);
        var loss = Tensor.Result(y, [1], "policy_loss", [logits], self => () =>
        {
            float g = self.Grad!.Data.ToArray()[0];          // one scalar back to the host
            if (g != 1f) be.Scale(dlogits, g, dlogits);
            logits.AddGrad(dlogits);
        });
        return (loss, stats);
    }
}
