namespace Engine.Autograd;

/// <summary>
/// Whether ops record the graph. <c>using (GradMode.Disable()) { ... }</c> is the no-grad scope
/// for inference and for optimiser updates: results computed inside require no grad.
/// Per thread, like PyTorch's torch.no_grad().
/// </summary>
public static class GradMode
{
    [ThreadStatic] static int disabledDepth;

    public static bool Enabled => disabledDepth == 0;

    public static IDisposable Disable()
    {
        disabledDepth++;
        return new Scope();
    }

    sealed class Scope : IDisposable
    {
        bool done;
        public void Dispose()
        {
            if (done) return;
            done = true;
            disabledDepth--;
        }
    }
}
