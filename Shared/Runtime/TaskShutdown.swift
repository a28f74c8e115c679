import ServiceLifecycle

extension Task where Success == Never, Failure == Never {
    /// True once the task is cancelled or the service group began a graceful
    /// shutdown: background loops stop starting new work.
    public static var isCancelledOrShuttingDown: Bool {
        Task.isCancelled || Task.isShuttingDownGracefully
    }
}
