internal import COpenSSL
import Foundation

/// The city CA's signing operations: a self-signed root, leaf certificates for each role, and
/// CRLs. ECDSA P-256 keys, SHA-256 signatures, X.509 v3 with the extensions TLS 1.3 peers check.
final class CertificateAuthority {
    let key: PrivateKey
    let certificate: Certificate

    init(key: PrivateKey, certificate: Certificate) {
        self.key = key
        self.certificate = certificate
    }

    /// A new root: CN = `name`, O = `organisation`, valid for `days`.
    static func create(name: String, organisation: String, days: Int) throws -> CertificateAuthority {
        let key = try PrivateKey.generate()
        let cert = try build(subject: [("O", organisation), ("CN", name)], subjectKey: key, issuer: nil,
                             signingKey: key, days: days,
                             extensions: [(NID_basic_constraints, "critical,CA:TRUE,pathlen:0"),
                                          (NID_key_usage, "critical,keyCertSign,cRLSign"),
                                          (NID_subject_key_identifier, "hash")])
        return CertificateAuthority(key: key, certificate: cert)
    }

    /// A leaf for `role`: O = organisation, OU = role, CN = name, SAN DNS:name (and
    /// `alternativeNames`, e.g. "IP:127.0.0.1"); usable as TLS
    /// client and server.
    func issue(role: Role, name: String, organisation: String, days: Int,
               validFrom: Date? = nil, validUntil: Date? = nil, alternativeNames: [String] = []) throws -> (PrivateKey, Certificate) {
        let key = try PrivateKey.generate()
        let cert = try Self.build(subject: [("O", organisation), ("OU", role.rawValue), ("CN", name)], subjectKey: key,
                                  issuer: certificate, signingKey: self.key, days: days,
                                  validFrom: validFrom, validUntil: validUntil,
                                  extensions: [(NID_basic_constraints, "critical,CA:FALSE"),
                                               (NID_key_usage, "critical,digitalSignature"),
                                               (NID_ext_key_usage, "serverAuth,clientAuth"),
                                               (NID_subject_alt_name, (["DNS:\(name)"] + alternativeNames).joined(separator: ",")),
                                               (NID_subject_key_identifier, "hash"),
                                               (NID_authority_key_identifier, "keyid:always")])
        return (key, cert)
    }

    /// A CRL listing `revoked` (serial hex, revocation time), valid for `days`.
    func crl(revoked: [(serialHex: String, at: Date)], days: Int) throws -> [UInt8] {
        ERR_clear_error()
        guard let crl = X509_CRL_new() else { throw OpenSSLError.drain("X509_CRL_new") }
        defer { X509_CRL_free(crl) }
        guard X509_CRL_set_version(crl, 1) == 1,
              X509_CRL_set_issuer_name(crl, X509_get_subject_name(certificate.handle)) == 1 else {
            throw OpenSSLError.drain("CRL header")
        }
        let now = ASN1_TIME_new(), next = ASN1_TIME_new()
        defer { ASN1_TIME_free(now); ASN1_TIME_free(next) }
        guard X509_gmtime_adj(now, 0) != nil, X509_time_adj_ex(next, Int32(days), 0, nil) != nil,
              X509_CRL_set1_lastUpdate(crl, now) == 1, X509_CRL_set1_nextUpdate(crl, next) == 1 else {
            throw OpenSSLError.drain("CRL validity")
        }
        for entry in revoked {
            guard let r = X509_REVOKED_new() else { throw OpenSSLError.drain("X509_REVOKED_new") }
            var bn: OpaquePointer?
            guard BN_hex2bn(&bn, entry.serialHex) > 0, let bn else {
                X509_REVOKED_free(r)
                throw OpenSSLError.drain("serial \(entry.serialHex)")
            }
            defer { BN_free(bn) }
            let serial = BN_to_ASN1_INTEGER(bn, nil)
            let when = ASN1_TIME_set(nil, time_t(entry.at.timeIntervalSince1970))
            defer { ASN1_INTEGER_free(serial); ASN1_TIME_free(when) }
            guard X509_REVOKED_set_serialNumber(r, serial) == 1, X509_REVOKED_set_revocationDate(r, when) == 1,
                  X509_CRL_add0_revoked(crl, r) == 1 else {
                X509_REVOKED_free(r)
                throw OpenSSLError.drain("CRL entry \(entry.serialHex)")
            }
        }
        guard X509_CRL_sort(crl) == 1, X509_CRL_sign(crl, key.handle, EVP_sha256()) > 0 else {
            throw OpenSSLError.drain("signing the CRL")
        }
        return try Bio.collect("writing the CRL") { PEM_write_bio_X509_CRL($0, crl) }
    }

    private static func build(subject: [(String, String)], subjectKey: PrivateKey, issuer: Certificate?,
                              signingKey: PrivateKey, days: Int, validFrom: Date? = nil, validUntil: Date? = nil,
                              extensions: [(Int32, String)]) throws -> Certificate {
        ERR_clear_error()
        guard let x = X509_new() else { throw OpenSSLError.drain("X509_new") }
        let cert = Certificate(handle: x)
        // A random 127-bit serial (RFC 5280 §4.1.2.2: positive, at most 20 octets).
        guard let bn = BN_new() else { throw OpenSSLError.drain("BN_new") }
        defer { BN_free(bn) }
        guard BN_rand(bn, 127, -1, 0) == 1, BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nil,
              X509_set_version(x, 2) == 1 else { throw OpenSSLError.drain("serial and version") }
        let validity: Bool
        if let validFrom, let validUntil {
            validity = ASN1_TIME_set(X509_getm_notBefore(x), time_t(validFrom.timeIntervalSince1970)) != nil
                && ASN1_TIME_set(X509_getm_notAfter(x), time_t(validUntil.timeIntervalSince1970)) != nil
        } else {
            validity = X509_gmtime_adj(X509_getm_notBefore(x), -300) != nil
                && X509_time_adj_ex(X509_getm_notAfter(x), Int32(days), 0, nil) != nil
        }
        guard validity else { throw OpenSSLError.drain("validity") }
        let name = X509_get_subject_name(x)
        for (field, value) in subject {
            guard X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, value, -1, -1, 0) == 1 else {
                throw OpenSSLError.drain("subject \(field)")
            }
        }
        let issuerName = issuer.map { X509_get_subject_name($0.handle) } ?? name
        guard X509_set_issuer_name(x, issuerName) == 1, X509_set_pubkey(x, subjectKey.handle) == 1 else {
            throw OpenSSLError.drain("issuer and key")
        }
        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, issuer?.handle ?? x, x, nil, nil, 0)
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &ctx, nid, value) else { throw OpenSSLError.drain("extension \(value)") }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x, ext, -1) == 1 else { throw OpenSSLError.drain("adding \(value)") }
        }
        guard X509_sign(x, signingKey.handle, EVP_sha256()) > 0 else { throw OpenSSLError.drain("X509_sign") }
        return cert
    }
}
