namespace Engine.Kernels;

/// <summary>Parallel.For over rows when the work is big enough to pay for the threads.</summary>
static class RowParallel
{
    const long MinWorkForThreads = 1 << 15;

    public static void For(int rows, long workPerRow, Action<int> body)
    {
        if (rows > 1 && rows * workPerRow >= MinWorkForThreads) Parallel.For(0, rows, body);
        else for (int r = 0; r < rows; r++) body(r);
    }
}
