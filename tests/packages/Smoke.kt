// Smoke test of the aurora jar on a plain class path (scripts/test-packages.sh): no
// -Djna.library.path, so JNA must take libaurora_ffi out of the jar.
// Usage: SmokeKt EXPECTED_VERSION DB_DIR -- one line per check, exits 1 on a failure.

import aurora.Aurora
import aurora.AuroraException
import aurora.ErrorCode
import aurora.JobHandler
import aurora.asFlow
import aurora.auroraVersion
import aurora.openAsync
import com.sun.jna.NativeLibrary
import java.util.Collections
import kotlin.system.exitProcess
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout

var failures = 0

fun check(ok: Boolean, what: String) {
    println((if (ok) "ok: " else "FAILED: ") + what)
    if (!ok) failures++
}

fun main(args: Array<String>) {
    runBlocking { smoke(args[0], args[1]) }
    exitProcess(if (failures > 0) 1 else 0)
}

suspend fun smoke(expected: String, path: String) {
    val manifest = Aurora::class.java.`package`.implementationVersion
    check(auroraVersion() == expected && manifest == expected, "version ${auroraVersion()}, jar manifest $manifest")
    val lib = NativeLibrary.getInstance("aurora_ffi").file
    check(System.getProperty("jna.library.path") == null, "no jna.library.path: JNA loaded $lib")

    val db = Aurora.openAsync(path)
    db.execute("schema { define collection users { email: String! @unique  age: Int } }")
    val sub = db.stream("subscription { users { email } }")
    val insert = "mutation (\$e: String!, \$a: Int) { insertInto(collection: \"users\", data: { email: \$e, age: \$a }) { email } }"
    val inserted = db.execute(insert, """{"e": "ann@x.io", "a": 41}""")
    check(inserted == """{"insertInto":{"email":"ann@x.io"}}""", "insert with variables: $inserted")
    val found = db.executeAsync("query (\$min: Int) { users(where: { age: { gte: \$min } }) { email age } }", """{"min": 40}""")
    check(found == """{"users":[{"email":"ann@x.io","age":41}]}""", "query: $found")
    val event = withTimeout(10_000) { sub.asFlow().first() }
    check(event.contains("\"email\":\"ann@x.io\"") && sub.isClosed(), "subscription event (asFlow, closed after first()): $event")

    val seen = Collections.synchronizedList(mutableListOf<String>())
    db.registerHandler("greet", object : JobHandler {
        override fun handle(jobJson: String) {
            seen.add(jobJson)
        }
    })
    db.startWorkers()
    val id = db.enqueue("greet", """{"to": "ann@x.io"}""")
    var status: String? = null
    for (i in 0 until 1000) {
        status = db.jobStatus(id)
        if (status?.contains("\"status\":\"COMPLETED\"") == true) break
        delay(20)
    }
    val ran = seen.size == 1 && seen[0].contains("\"payload\":{\"to\":\"ann@x.io\"}")
    check(ran && status?.contains("\"status\":\"COMPLETED\"") == true, "job run by a Kotlin handler: $seen")

    try {
        db.execute("query { nope { x } }")
        check(false, "unknown collection throws")
    } catch (e: AuroraException.Failed) {
        check(e.code == ErrorCode.NOT_FOUND, "error code ${e.code}")
    }
    db.shutdown()
}
