// Hand-written coroutine helpers over the generated bindings (../kotlin/aurora/aurora_ffi.kt),
// compiled into the same jar: a subscription as a Flow, and opening a database without blocking.
package aurora

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.withContext

/**
 * The subscription's events (JSON text) as a Flow, for one collector. It completes when the
 * subscription or its database closes; cancelling the collection (or an operator that stops
 * early, such as `take` or `first`) closes the subscription.
 */
fun Subscription.asFlow(): Flow<String> = flow {
    try {
        while (true) emit(nextAsync() ?: break)
    } finally {
        shutdown()
    }
}

/**
 * Opens (or creates) the database at [path] on [Dispatchers.IO], suspending the caller instead
 * of blocking it. (Not named `open`: Kotlin always picks the generated blocking member
 * `Aurora.open` over an extension of the same name.)
 */
suspend fun Aurora.Companion.openAsync(path: String, configJson: String? = null): Aurora =
    withContext(Dispatchers.IO) { Aurora.open(path, configJson) }
